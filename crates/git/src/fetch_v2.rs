//! A fetch over HTTP(S) in git's protocol v2: after a `ls-refs` check found that a ref moved, one
//! `fetch` request with the new tip as `want`, the cache's own tips as `have` and `done` — the
//! server answers with the pack at once, with no negotiation round. The pack streams straight
//! into the object database (libgit2's indexer, which completes a thin pack from the objects
//! already there), then the local ref moves.
//!
//! libgit2's own fetch (protocol v0) costs a second listing of every ref, then one or more
//! negotiation requests, each written in two TCP segments that wait out a delayed ACK: about
//! 100 ms on loopback for a one-file commit, where this request takes a few milliseconds.
//!
//! The request and the reply are pure ([`request_body`], [`read_reply`]); [`fetch`] sends one
//! POST. Anything that goes wrong is reported as `None` and the caller fetches with libgit2,
//! which reports errors as before; a pack that was not complete is discarded.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use git2::{Oid, Repository};

use crate::credentials::Credentials;
use crate::pkt::{self, Packet};
use crate::url::RepoUrl;

/// The user agent of a fetch (server logs tell it from a listing).
pub const USER_AGENT: &str = "git/2.0 (capstan fetch)";

/// At most this many of the cache's tips are sent as `have`.
const MAX_HAVES: usize = 64;

/// What to ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// The object to fetch.
    pub want: String,
    /// Commits the cache has.
    pub haves: Vec<String>,
    /// The cache's shallow boundary (commits whose parents it lacks).
    pub shallow: Vec<String>,
    /// `deepen N`: only this many commits of history.
    pub depth: Option<u32>,
}

/// The body of a v2 `fetch` request: a thin pack, without progress messages, `done` at once.
pub fn request_body(request: &Request) -> Vec<u8> {
    let mut body = Vec::new();
    pkt::write(&mut body, "command=fetch\n");
    pkt::write(
        &mut body,
        concat!("agent=capstan/", env!("CARGO_PKG_VERSION"), "\n"),
    );
    body.extend_from_slice(b"0001");
    for argument in ["thin-pack\n", "no-progress\n", "ofs-delta\n"] {
        pkt::write(&mut body, argument);
    }
    pkt::write(&mut body, &format!("want {}\n", request.want));
    for have in &request.haves {
        pkt::write(&mut body, &format!("have {have}\n"));
    }
    for shallow in &request.shallow {
        pkt::write(&mut body, &format!("shallow {shallow}\n"));
    }
    if let Some(depth) = request.depth {
        pkt::write(&mut body, &format!("deepen {depth}\n"));
    }
    pkt::write(&mut body, "done\n");
    body.extend_from_slice(b"0000");
    body
}

/// Changes to the shallow boundary the server announced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShallowInfo {
    /// Commits that are now shallow.
    pub shallow: Vec<String>,
    /// Commits that are no longer shallow.
    pub unshallow: Vec<String>,
}

fn text(data: &[u8]) -> String {
    let line = String::from_utf8_lossy(data);
    line.strip_suffix('\n').unwrap_or(&line).to_owned()
}

/// Reads a v2 `fetch` reply: its sections up to the `packfile` section, whose pack data is
/// written to `pack`. `cancelled` is asked between packets. Returns what the reply said about
/// the shallow boundary.
pub fn read_reply(
    reader: &mut impl BufRead,
    pack: &mut impl Write,
    cancelled: &dyn Fn() -> bool,
) -> Result<ShallowInfo, String> {
    let mut info = ShallowInfo::default();
    loop {
        let header = match pkt::read(reader)? {
            Packet::Data(data) => text(&data),
            Packet::Flush => return Err("the reply has no pack".to_owned()),
            Packet::Delimiter => continue,
        };
        if header == "packfile" {
            break;
        }
        if let Some(message) = header.strip_prefix("ERR ") {
            return Err(format!("the server refused: {message}"));
        }
        if !matches!(
            header.as_str(),
            "acknowledgments" | "shallow-info" | "wanted-refs"
        ) {
            return Err(format!("unexpected section {header:?}"));
        }
        // A section's lines run to a delimiter (another section follows) or a flush (the end).
        loop {
            match pkt::read(reader)? {
                Packet::Data(data) => {
                    let line = text(&data);
                    if let Some(oid) = line.strip_prefix("shallow ") {
                        info.shallow.push(oid.to_owned());
                    } else if let Some(oid) = line.strip_prefix("unshallow ") {
                        info.unshallow.push(oid.to_owned());
                    }
                }
                Packet::Delimiter => break,
                Packet::Flush => return Err("the reply has no pack".to_owned()),
            }
        }
    }
    loop {
        if cancelled() {
            return Err("cancelled".to_owned());
        }
        let data = match pkt::read(reader)? {
            Packet::Data(data) => data,
            Packet::Flush => return Ok(info),
            Packet::Delimiter => return Err("unexpected delimiter in the pack".to_owned()),
        };
        match data.split_first() {
            Some((1, chunk)) => pack
                .write_all(chunk)
                .map_err(|e| format!("cannot store the pack: {e}"))?,
            Some((2, _)) => {}
            Some((3, message)) => return Err(format!("the server failed: {}", text(message))),
            _ => return Err("not a side-band packet".to_owned()),
        }
    }
}

/// The commits the cache's refs point at, for `have` lines: the ref being fetched first, then
/// branches, then tags, at most [`MAX_HAVES`].
pub fn haves(repo: &Repository, local: &str) -> Vec<String> {
    let mut tips: Vec<(u8, String)> = repo
        .references()
        .map(|refs| {
            refs.flatten()
                .filter_map(|r| {
                    let rank = match r.name().ok() {
                        Some(name) if name == local => 0,
                        Some(name) if name.starts_with("refs/tags/") => 2,
                        _ => 1,
                    };
                    r.peel_to_commit().ok().map(|c| (rank, c.id().to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    tips.sort();
    let mut haves: Vec<String> = Vec::new();
    for (_, oid) in tips {
        if haves.len() >= MAX_HAVES {
            break;
        }
        if !haves.contains(&oid) {
            haves.push(oid);
        }
    }
    haves
}

/// The cache's shallow boundary (`shallow` in the git directory): one commit a line.
fn read_shallow(dir: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(dir.join("shallow"))
        .map(|text| text.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

fn write_shallow(dir: &Path, shallow: &BTreeSet<String>) -> std::io::Result<()> {
    let path = dir.join("shallow");
    if shallow.is_empty() {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    let text: String = shallow.iter().map(|oid| format!("{oid}\n")).collect();
    let staged = dir.join("shallow.capstan");
    std::fs::write(&staged, text)?;
    std::fs::rename(staged, path)
}

/// Fetches `want` into `repo` and points `local` at it, with one v2 `fetch` request;
/// `None` when anything went wrong (the caller falls back to libgit2).
pub fn fetch(
    repo: &Repository,
    url: &RepoUrl,
    creds: &Credentials,
    (want, local): (&str, &str),
    (depth, cancel): (Option<u32>, &Arc<AtomicBool>),
) -> Option<()> {
    let failed = |why: &dyn std::fmt::Display| {
        tracing::debug!(url = %url.to_git_url(), %why, "no protocol v2 fetch");
    };
    let oid = Oid::from_str(want).ok()?;
    let dir = repo.path().to_path_buf();
    let shallow = read_shallow(&dir);
    let request = Request {
        want: want.to_owned(),
        haves: haves(repo, local),
        shallow: shallow.iter().cloned().collect(),
        depth,
    };
    let agent = agent(creds)?;
    let response = crate::ls_refs::post(&agent, url, creds, USER_AGENT, &request_body(&request))
        .map_err(|e| failed(&e))
        .ok()?;
    let kind = crate::ls_refs::content_type(&response);
    if response.status().as_u16() != 200 || kind != "application/x-git-upload-pack-result" {
        failed(&format!(
            "status {}, content type {kind}",
            response.status()
        ));
        return None;
    }
    let mut reader = BufReader::new(response.into_body().into_reader());
    let odb = repo.odb().map_err(|e| failed(&e)).ok()?;
    let mut pack = odb.packwriter().map_err(|e| failed(&e)).ok()?;
    let cancelled = || cancel.load(Ordering::Relaxed);
    let info = read_reply(&mut reader, &mut pack, &cancelled)
        .map_err(|e| failed(&e))
        .ok()?;
    // Drain what follows the flush, so the connection can be reused.
    let _ = std::io::copy(&mut reader, &mut std::io::sink());
    pack.commit().map_err(|e| failed(&e)).ok()?;
    if !info.shallow.is_empty() || !info.unshallow.is_empty() {
        let mut boundary = shallow;
        boundary.extend(info.shallow);
        for oid in &info.unshallow {
            boundary.remove(oid);
        }
        write_shallow(&dir, &boundary)
            .map_err(|e| failed(&e))
            .ok()?;
    }
    // The pack must have brought the object the ref is to point at.
    repo.find_object(oid, None).map_err(|e| failed(&e)).ok()?;
    repo.reference(local, oid, true, "capstan: fetch")
        .map_err(|e| failed(&e))
        .ok()?;
    Some(())
}

/// An agent for a fetch: the listing's, without its bound on the whole request (a pack may be
/// large); a silent server is given up after a minute, as libgit2 does.
fn agent(creds: &Credentials) -> Option<ureq::Agent> {
    crate::ls_refs::agent_with(creds, |config| {
        config
            .timeout_global(None)
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_per_read(Some(Duration::from_secs(60)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";

    fn packets(lines: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for line in lines {
            match *line {
                b"0000" | b"0001" => out.extend_from_slice(line),
                data => {
                    out.extend_from_slice(format!("{:04x}", data.len() + 4).as_bytes());
                    out.extend_from_slice(data);
                }
            }
        }
        out
    }

    fn read(reply: &[u8]) -> Result<(ShallowInfo, Vec<u8>), String> {
        let mut pack = Vec::new();
        let info = read_reply(&mut &reply[..], &mut pack, &|| false)?;
        Ok((info, pack))
    }

    #[test]
    fn the_request_wants_one_object_and_says_done_at_once() {
        let request = Request {
            want: A.into(),
            haves: vec![B.into()],
            shallow: vec![B.into()],
            depth: Some(1),
        };
        let text = String::from_utf8(request_body(&request)).expect("ascii");
        assert!(text.starts_with("0012command=fetch\n"), "{text}");
        let expected = format!(
            "0001000ethin-pack\n0010no-progress\n000eofs-delta\n0032want {A}\n0032have {B}\n\
             0035shallow {B}\n000ddeepen 1\n0009done\n0000"
        );
        assert!(text.ends_with(&expected), "{text}");
    }

    #[test]
    fn the_pack_is_taken_from_side_band_one_and_the_shallow_boundary_from_its_section() {
        let shallow = format!("shallow {A}\n");
        let unshallow = format!("unshallow {B}\n");
        let reply = packets(&[
            b"shallow-info\n",
            shallow.as_bytes(),
            unshallow.as_bytes(),
            b"0001",
            b"packfile\n",
            b"\x01PACK",
            b"\x02counting objects\n",
            b"\x01rest",
            b"0000",
        ]);
        let (info, pack) = read(&reply).expect("a reply");
        assert_eq!(pack, b"PACKrest");
        assert_eq!(info.shallow, [A]);
        assert_eq!(info.unshallow, [B]);
    }

    #[test]
    fn a_reply_without_a_complete_pack_is_refused() {
        let cases: Vec<Vec<u8>> = vec![
            Vec::new(),
            packets(&[b"ERR upload-pack: not our ref\n"]),
            packets(&[b"acknowledgments\n", b"NAK\n", b"0000"]),
            packets(&[b"packfile\n", b"\x01PACK"]),
            packets(&[b"packfile\n", b"\x03the server broke\n", b"0000"]),
            packets(&[b"packfile\n", b"\x07what\n", b"0000"]),
            packets(&[b"packfile-uris\n", b"0001"]),
            b"zzzz".to_vec(),
        ];
        for case in cases {
            assert!(read(&case).is_err(), "{:?}", String::from_utf8_lossy(&case));
        }
    }

    #[test]
    fn a_cancelled_fetch_stops_reading() {
        let reply = packets(&[b"packfile\n", b"\x01PACK", b"0000"]);
        let mut pack = Vec::new();
        assert!(read_reply(&mut &reply[..], &mut pack, &|| true).is_err());
        assert!(pack.is_empty());
    }
}
