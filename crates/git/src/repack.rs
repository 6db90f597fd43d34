//! Few pack files per cached repository. Every fetch adds a pack and libgit2 never repacks, so a
//! repository with a commit every few minutes would gather thousands — one more index to search
//! on every object read, one more file to open. Past [`MOST_PACKS`], every pack but the largest
//! (the first fetch's, most often) is written into one new pack with libgit2's pack builder and
//! removed: the work is in proportion to what the recent fetches brought, not to the history.
//! Each pack a fetch leaves is complete (a thin pack is completed while it is indexed), so the
//! objects its index lists are all in the repository. Runs after a fetch, with the repository's
//! network work serialized, so no fetch adds a pack meanwhile; a reader holding an old pack open
//! keeps reading it (the file stays until closed), and one that misses an object finds it after
//! refreshing its packs.

use std::path::{Path, PathBuf};

use git2::{Oid, Repository};

/// Past this many pack files, a repository's packs are consolidated.
pub(crate) const MOST_PACKS: usize = 24;

/// The pack files (`*.pack`) in `dir`, with their sizes.
fn pack_files(dir: &Path) -> Vec<(PathBuf, u64)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "pack"))
        .map(|path| {
            let size = std::fs::metadata(&path).map_or(0, |m| m.len());
            (path, size)
        })
        .collect()
}

/// The object ids a version 2 pack index (`.idx`) lists; `None` when it is not one.
pub(crate) fn index_ids(index: &[u8]) -> Option<Vec<Oid>> {
    const HEADER: usize = 8;
    const FANOUT: usize = 256 * 4;
    if index.get(..HEADER)? != b"\xfftOc\x00\x00\x00\x02" {
        return None;
    }
    let last = index.get(HEADER + FANOUT - 4..HEADER + FANOUT)?;
    let count = u32::from_be_bytes(last.try_into().ok()?) as usize;
    let ids = index.get(HEADER + FANOUT..HEADER + FANOUT + count.checked_mul(20)?)?;
    ids.chunks_exact(20)
        .map(|id| Oid::from_bytes(id).ok())
        .collect()
}

/// Consolidates `repo`'s packs when it has more than [`MOST_PACKS`]: every pack but the
/// largest becomes one. Returns whether it did.
pub(crate) fn consolidate(repo: &Repository) -> Result<bool, git2::Error> {
    let dir = repo.path().join("objects").join("pack");
    let mut packs = pack_files(&dir);
    if packs.len() <= MOST_PACKS {
        return Ok(false);
    }
    packs.sort_by_key(|(_, size)| std::cmp::Reverse(*size));
    let merged: Vec<PathBuf> = packs.into_iter().skip(1).map(|(path, _)| path).collect();
    let mut builder = repo.packbuilder()?;
    for pack in &merged {
        let index = std::fs::read(pack.with_extension("idx"))
            .map_err(|e| git2::Error::from_str(&format!("{}: {e}", pack.display())))?;
        let ids = index_ids(&index).ok_or_else(|| {
            git2::Error::from_str(&format!("{}: not a version 2 pack index", pack.display()))
        })?;
        for id in ids {
            builder.insert_object(id, None)?;
        }
    }
    builder.write(&dir, 0)?;
    let written = builder.name()?.map(|name| format!("pack-{name}"));
    for pack in merged {
        let stem = pack.file_stem().and_then(|s| s.to_str()).map(str::to_owned);
        if stem.is_none() || stem == written {
            continue;
        }
        for extension in ["pack", "idx", "rev"] {
            let _ = std::fs::remove_file(pack.with_extension(extension));
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(ids: &[[u8; 20]]) -> Vec<u8> {
        let mut out = b"\xfftOc\x00\x00\x00\x02".to_vec();
        for byte in 0..256_usize {
            let below = ids.iter().filter(|id| usize::from(id[0]) <= byte).count();
            out.extend_from_slice(&u32::try_from(below).expect("count").to_be_bytes());
        }
        for id in ids {
            out.extend_from_slice(id);
        }
        out
    }

    #[test]
    fn a_version_2_index_lists_its_object_ids_and_anything_else_is_refused() {
        let ids = [[1u8; 20], [7u8; 20], [200u8; 20]];
        let listed = index_ids(&index(&ids)).expect("an index");
        let expected: Vec<Oid> = ids
            .iter()
            .map(|id| Oid::from_bytes(id).expect("oid"))
            .collect();
        assert_eq!(listed, expected);
        let mut short = index(&ids);
        short.truncate(short.len() - 1);
        assert_eq!(index_ids(&short), None, "cut short");
        let mut version_1 = index(&ids);
        version_1[7] = 1;
        assert_eq!(index_ids(&version_1), None, "another version");
        assert_eq!(index_ids(b""), None);
    }
}
