//! The resource layer's queries. Every function takes a connection so callers
//! compose them into one transaction (see `docs/formats/resources.md`).

use std::collections::HashMap;

use db::schema::{blocks, layers, map_entries, resources};
use db::Conn;
use diesel::prelude::*;

use crate::chunk::BlockId;
use crate::error::{Error, Result};

/// Resource kinds as stored in `resources.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Read-only: objects, images, snapshots. Its layer chain never changes.
    Ro,
    /// Read-write: volumes. Its top layer is its own and takes writes.
    Rw,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ro => "ro",
            Kind::Rw => "rw",
        }
    }

    fn parse(s: &str) -> Result<Kind> {
        match s {
            "ro" => Ok(Kind::Ro),
            "rw" => Ok(Kind::Rw),
            other => Err(Error::Corrupt(format!("unknown resource kind {other:?}"))),
        }
    }
}

/// A resource's row.
#[derive(Debug, Clone)]
pub struct ResourceRow {
    pub id: String,
    pub kind: Kind,
    pub size: u64,
    pub block_size: u32,
    pub layer_id: i64,
    pub policy: String,
    pub refs: i32,
}

/// One block as the map knows it: id, length, and the bytes when inline.
#[derive(Debug, Clone)]
pub struct BlockRef {
    pub id: BlockId,
    pub len: u32,
    pub inline: Option<bytes::Bytes>,
}

pub fn get_resource(c: &mut Conn, rid: &str) -> Result<ResourceRow> {
    let row: Option<(String, String, i64, i32, i64, String, i32)> = resources::table
        .find(rid)
        .select((
            resources::id,
            resources::kind,
            resources::size,
            resources::block_size,
            resources::layer_id,
            resources::policy,
            resources::refs,
        ))
        .first(c)
        .optional()?;
    let (id, kind, size, block_size, layer_id, policy, refs) =
        row.ok_or_else(|| Error::NotFound(rid.to_string()))?;
    Ok(ResourceRow {
        id,
        kind: Kind::parse(&kind)?,
        size: size as u64,
        block_size: block_size as u32,
        layer_id,
        policy,
        refs,
    })
}

pub fn new_layer(c: &mut Conn, parent: Option<i64>) -> Result<i64> {
    let depth = match parent {
        Some(p) => {
            layers::table
                .find(p)
                .select(layers::depth)
                .first::<i32>(c)?
                + 1
        }
        None => 0,
    };
    let id = diesel::insert_into(layers::table)
        .values((layers::parent_id.eq(parent), layers::depth.eq(depth)))
        .returning(layers::id)
        .get_result(c)?;
    Ok(id)
}

/// Layer ids from `top` down to the root.
pub fn chain(c: &mut Conn, top: i64) -> Result<Vec<i64>> {
    let mut out = vec![top];
    let mut cur = top;
    while let Some(p) = layers::table
        .find(cur)
        .select(layers::parent_id)
        .first::<Option<i64>>(c)?
    {
        out.push(p);
        cur = p;
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
pub fn insert_resource(
    c: &mut Conn,
    rid: &str,
    kind: Kind,
    size: u64,
    block_size: u32,
    layer: i64,
    policy: &str,
    refs: i32,
) -> Result<()> {
    diesel::insert_into(resources::table)
        .values((
            resources::id.eq(rid),
            resources::kind.eq(kind.as_str()),
            resources::size.eq(size as i64),
            resources::block_size.eq(block_size as i32),
            resources::layer_id.eq(layer),
            resources::policy.eq(policy),
            resources::refs.eq(refs),
            resources::created_at.eq(db::now_micros()),
        ))
        .execute(c)?;
    Ok(())
}

/// Records block rows; rows that exist already are left as they are.
pub fn insert_blocks(c: &mut Conn, rows: &[(BlockId, u32, Option<&[u8]>)]) -> Result<()> {
    let now = db::now_micros();
    for (id, len, inline) in rows {
        diesel::insert_or_ignore_into(blocks::table)
            .values((
                blocks::id.eq(&id.0[..]),
                blocks::size.eq(*len as i32),
                blocks::inline_data.eq(*inline),
                blocks::created_at.eq(now),
            ))
            .execute(c)?;
    }
    Ok(())
}

/// Sets map entries of one layer (`None` is an explicit hole that hides
/// whatever a parent layer holds at that index).
pub fn put_entries(c: &mut Conn, layer: i64, entries: &[(u64, Option<BlockId>)]) -> Result<()> {
    for (idx, block) in entries {
        diesel::replace_into(map_entries::table)
            .values((
                map_entries::layer_id.eq(layer),
                map_entries::idx.eq(*idx as i64),
                map_entries::block_id.eq(block.as_ref().map(|b| &b.0[..])),
            ))
            .execute(c)?;
    }
    Ok(())
}

/// The resolved map of a layer chain for block indexes `first..=last`:
/// for every index the topmost layer's entry wins; absent means a hole.
pub fn resolve(
    c: &mut Conn,
    chain: &[i64],
    first: u64,
    last: u64,
) -> Result<HashMap<u64, BlockRef>> {
    let rows: Vec<(i64, i64, Option<Vec<u8>>)> = map_entries::table
        .filter(map_entries::layer_id.eq_any(chain))
        .filter(map_entries::idx.between(first as i64, last as i64))
        .select((
            map_entries::layer_id,
            map_entries::idx,
            map_entries::block_id,
        ))
        .load(c)?;
    let depth_of: HashMap<i64, usize> = chain.iter().enumerate().map(|(i, l)| (*l, i)).collect();
    let mut best: HashMap<u64, (usize, Option<Vec<u8>>)> = HashMap::new();
    for (layer, idx, block) in rows {
        let d = depth_of[&layer];
        let e = best.entry(idx as u64).or_insert((usize::MAX, None));
        if d < e.0 {
            *e = (d, block);
        }
    }
    let ids: Vec<Vec<u8>> = best.values().filter_map(|(_, b)| b.clone()).collect();
    let mut info: HashMap<Vec<u8>, (i32, Option<Vec<u8>>)> = HashMap::new();
    for part in ids.chunks(500) {
        let rows: Vec<(Vec<u8>, i32, Option<Vec<u8>>)> = blocks::table
            .filter(blocks::id.eq_any(part))
            .select((blocks::id, blocks::size, blocks::inline_data))
            .load(c)?;
        info.extend(rows.into_iter().map(|(id, s, d)| (id, (s, d))));
    }
    let mut out = HashMap::new();
    for (idx, (_, block)) in best {
        let Some(raw) = block else { continue };
        let (len, inline) = info.get(&raw).cloned().ok_or_else(|| {
            Error::Corrupt(format!(
                "map entry names unknown block {}",
                hex::encode(&raw)
            ))
        })?;
        let id = BlockId::from_slice(&raw).ok_or_else(|| Error::Corrupt("bad block id".into()))?;
        out.insert(
            idx,
            BlockRef {
                id,
                len: len as u32,
                inline: inline.map(bytes::Bytes::from),
            },
        );
    }
    Ok(out)
}

/// Adds one view reference to a resource.
pub fn retain(c: &mut Conn, rid: &str) -> Result<()> {
    let n = diesel::update(resources::table.find(rid))
        .set(resources::refs.eq(resources::refs + 1))
        .execute(c)?;
    if n == 0 {
        return Err(Error::NotFound(rid.to_string()));
    }
    Ok(())
}

/// Drops one view reference; the last one deletes the resource and every
/// layer no longer needed. Blocks are left to the garbage collector.
pub fn release(c: &mut Conn, rid: &str) -> Result<()> {
    let row = get_resource(c, rid)?;
    if row.refs > 1 {
        diesel::update(resources::table.find(rid))
            .set(resources::refs.eq(row.refs - 1))
            .execute(c)?;
        return Ok(());
    }
    diesel::delete(resources::table.find(rid)).execute(c)?;
    drop_layer_if_unused(c, row.layer_id)
}

/// Deletes `layer` (and then its parents) while no resource and no child
/// layer uses it.
pub fn drop_layer_if_unused(c: &mut Conn, layer: i64) -> Result<()> {
    let mut cur = Some(layer);
    while let Some(l) = cur {
        let used_by_resource: i64 = resources::table
            .filter(resources::layer_id.eq(l))
            .count()
            .get_result(c)?;
        let children: i64 = layers::table
            .filter(layers::parent_id.eq(l))
            .count()
            .get_result(c)?;
        if used_by_resource > 0 || children > 0 {
            return Ok(());
        }
        let parent: Option<i64> = layers::table.find(l).select(layers::parent_id).first(c)?;
        diesel::delete(map_entries::table.filter(map_entries::layer_id.eq(l))).execute(c)?;
        diesel::delete(layers::table.find(l)).execute(c)?;
        cur = parent;
    }
    Ok(())
}
