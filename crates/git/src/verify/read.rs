//! Reading a resolved revision's signed object from the cache (I/O) and handing its signature
//! and signed bytes to [`verify_signature`]: the annotated tag when the revision named one, else
//! the commit. Only the object itself is read — never its tree — so nothing of a refused commit
//! reaches a renderer.

use std::sync::Arc;

use git2::{ErrorCode, ObjectType, Oid, Repository};

use super::{Signed, Signer, TrustedKeys, split_tag_signature, verify_signature};
use crate::cache::{Slot, local_ref, open_repo};
use crate::{Error, RepoCache, RepoUrl, Resolved};

/// A signed object: what it is, and its (signature, signed bytes) when it carries a signature.
type SignedObject = (Signed, Option<(Vec<u8>, Vec<u8>)>);

impl RepoCache {
    /// Verifies the revision `resolved` (from a resolve of the repository at `url`) against the
    /// trusted `keys`: the annotated tag it named, else its commit, must carry a signature by one
    /// of them that matches the object. The access proof is checked as for a read. Returns the
    /// signer; a refusal is [`Error::Unverified`], naming the object and the signer.
    #[tracing::instrument(skip_all, fields(commit = %resolved.commit.sha))]
    pub async fn verify(
        &self,
        url: &str,
        resolved: &Resolved,
        keys: &TrustedKeys,
    ) -> Result<Signer, Error> {
        let url = RepoUrl::parse(url)?;
        let slot = self.slot(&url);
        resolved
            .access
            .check(&url, &slot.grants, self.authorization_max_age())?;
        let (reference, commit) = (resolved.reference.clone(), resolved.commit.sha.clone());
        let keys = keys.clone();
        let signer = self
            .blocking("verify", &url, move |_| {
                let object = read_signed(&slot, reference.as_deref(), &commit)?;
                let (signed, signature) = &object;
                let parts = signature
                    .as_ref()
                    .map(|(s, c)| (s.as_slice(), c.as_slice()));
                Ok(verify_signature(signed, parts, &keys)?)
            })
            .await?;
        tracing::debug!(signer = %signer, "signature verified");
        Ok(signer)
    }
}

/// The object to verify for a revision that resolved to `commit` through `reference`.
fn read_signed(
    slot: &Arc<Slot>,
    reference: Option<&str>,
    commit: &str,
) -> Result<SignedObject, Error> {
    let repo = open_repo(&slot.dir)?;
    let oid =
        Oid::from_str(commit).map_err(|e| Error::local(format!("parse commit {commit}"), e))?;
    if let Some(tag) = reference.filter(|r| r.starts_with("refs/tags/"))
        && let Some(object) = read_tag(&repo, tag, oid)?
    {
        return Ok(object);
    }
    repo.find_commit(oid)
        .map_err(|e| Error::local(format!("find commit {commit}"), e))?;
    let signed = Signed::Commit(commit.to_owned());
    match repo.extract_signature(&oid, None) {
        Ok((signature, content)) => Ok((signed, Some((signature.to_vec(), content.to_vec())))),
        Err(e) if e.code() == ErrorCode::NotFound => Ok((signed, None)),
        Err(e) => Err(Error::local(
            format!("read the signature of commit {commit}"),
            e,
        )),
    }
}

/// The annotated tag `reference` names, when it is one; it must still point at `commit`.
fn read_tag(
    repo: &Repository,
    reference: &str,
    commit: Oid,
) -> Result<Option<SignedObject>, Error> {
    let failed = |e: git2::Error| Error::local(format!("read {reference}"), e);
    let target = repo
        .find_reference(&local_ref(reference))
        .map_err(failed)?
        .target()
        .ok_or_else(|| Error::local(format!("read {reference}"), "not a direct reference"))?;
    let object = repo.find_object(target, None).map_err(failed)?;
    if object.kind() != Some(ObjectType::Tag) {
        return Ok(None);
    }
    let peeled = object.peel(ObjectType::Commit).map_err(failed)?.id();
    if peeled != commit {
        let why = format!("it moved to {peeled} since it was resolved to {commit}");
        return Err(Error::local(format!("read {reference}"), why));
    }
    let odb = repo.odb().map_err(failed)?;
    let raw = odb.read(target).map_err(failed)?.data().to_vec();
    let name = reference.trim_start_matches("refs/tags/").to_owned();
    let signed = Signed::Tag {
        name,
        sha: target.to_string(),
    };
    let parts = split_tag_signature(&raw).map(|(s, c)| (s.to_vec(), c.to_vec()));
    Ok(Some((signed, parts)))
}
