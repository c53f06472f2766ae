//! Log-level tests over the in-memory crash seam: group commit, replay,
//! and crash at every sync of a random workload.

use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;

use super::io::MemDir;
use super::overlay::load;
use super::{WlogConfig, WriteLog};

const SIZE: u64 = 64 << 10;

fn cfg() -> WlogConfig {
    WlogConfig {
        segment_bytes: 16 << 10,
        max_bytes: 64 << 20,
        ..WlogConfig::default()
    }
}

fn rid(i: usize) -> String {
    format!("{i:032x}")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A volume's content as the log alone shows it (zeros underneath).
async fn content(log: &WriteLog, rid: &str) -> Vec<u8> {
    let mut out = vec![0u8; SIZE as usize];
    let pieces = log.pending(rid, 0, SIZE);
    let data = load(&pieces).await.unwrap();
    for (p, d) in pieces.iter().zip(data) {
        let r = p.start as usize..p.end as usize;
        match d {
            Some(d) => out[r].copy_from_slice(&d),
            None => out[r].fill(0),
        }
    }
    out
}

#[test]
fn concurrent_writes_share_syncs_and_survive_reopen() {
    concurrent_writes(true);
    // Cached acks: answered before the group is written (reads find the
    // bytes in memory, then in the file); a clean stop makes them durable.
    concurrent_writes(false);
}

fn concurrent_writes(durable: bool) {
    let rt = rt();
    let dir = MemDir::default();
    let cfg = || WlogConfig {
        durable_acks: durable,
        ..cfg()
    };
    let log = WriteLog::open(Arc::new(dir.clone()), cfg()).unwrap();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..64u64 {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                let data = Bytes::from(vec![i as u8 + 1; 512]);
                log.write(&rid(0), i * 512, data, false).await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    let syncs = dir.crash.syncs();
    assert!(syncs < 64, "64 concurrent writes took {syncs} syncs");
    let before = rt.block_on(content(&log, &rid(0)));
    for i in 0..64 {
        assert!(before[i * 512..(i + 1) * 512]
            .iter()
            .all(|&b| b == i as u8 + 1));
    }
    // Overwrite half of every piece: a newer record splits what an older
    // one (maybe still in memory) holds.
    rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..64u64 {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                let data = Bytes::from(vec![0xF0; 256]);
                log.write(&rid(0), i * 512 + 128, data, false)
                    .await
                    .unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    let before = rt.block_on(content(&log, &rid(0)));
    for i in 0..64 {
        let p = &before[i * 512..(i + 1) * 512];
        assert!(p[..128].iter().all(|&b| b == i as u8 + 1));
        assert!(p[128..384].iter().all(|&b| b == 0xF0));
        assert!(p[384..].iter().all(|&b| b == i as u8 + 1));
    }
    log.close();
    let again = WriteLog::open(Arc::new(dir.clone()), cfg()).unwrap();
    assert_eq!(rt.block_on(content(&again, &rid(0))), before);
    // Forget survives a replay too.
    rt.block_on(again.forget(&rid(0))).unwrap();
    again.close();
    let third = WriteLog::open(Arc::new(dir), cfg()).unwrap();
    assert!(third.pending(&rid(0), 0, SIZE).is_empty());
    third.close();
}

/// One round: writes of 512-byte-aligned ranges, sent at once (so they
/// may land in any order).
type Round = Vec<(usize, u64, u64, bool)>; // (volume, sector, sectors, zero)

fn rounds() -> impl Strategy<Value = Vec<Round>> {
    proptest::collection::vec(
        proptest::collection::vec(
            (0usize..2, 0u64..100, 1u64..20, prop::bool::weighted(0.2)),
            1..6,
        ),
        1..8,
    )
}

/// Runs `rounds` against a log that crashes at sync `at`; returns the
/// writes acknowledged (round, write) and the crashed directory. With
/// `durable`, every write is FUA and counts once answered; without it,
/// writes are cached and a round counts once the FLUSH after it is
/// answered.
fn run_until_crash(
    rounds: &[Round],
    at: Option<u64>,
    durable: bool,
) -> (Vec<(usize, usize)>, MemDir) {
    let rt = rt();
    let dir = MemDir::crashing_at(at);
    let cfg = WlogConfig {
        durable_acks: durable,
        ..cfg()
    };
    let log = WriteLog::open(Arc::new(dir.clone()), cfg).unwrap();
    let mut acked = Vec::new();
    rt.block_on(async {
        for (ri, round) in rounds.iter().enumerate() {
            let mut tasks = Vec::new();
            for (wi, &(v, sec, n, zero)) in round.iter().enumerate() {
                let log = log.clone();
                // The tag identifies the write in every byte it wrote.
                let tag = (ri * 8 + wi + 1) as u8;
                tasks.push(tokio::spawn(async move {
                    let (off, len) = (sec * 512, n * 512);
                    let r = if zero {
                        log.zero(&rid(v), off, len as u32, durable).await
                    } else {
                        log.write(&rid(v), off, Bytes::from(vec![tag; len as usize]), durable)
                            .await
                    };
                    r.is_ok()
                }));
            }
            let mut done = Vec::new();
            for (wi, t) in tasks.into_iter().enumerate() {
                if t.await.unwrap() {
                    done.push((ri, wi));
                }
            }
            if durable || log.flush().await.is_ok() {
                acked.extend(done);
            }
        }
    });
    log.close();
    (acked, dir)
}

/// Checks the replayed content: every sector shows the newest acknowledged
/// write covering it or a later (unacknowledged) one, never anything else.
fn check(
    rounds: &[Round],
    acked: &[(usize, usize)],
    dir: &MemDir,
    tear: f64,
) -> Result<(), TestCaseError> {
    let rt = rt();
    let restarted = dir.after_crash(tear);
    let log = WriteLog::open(Arc::new(restarted), cfg()).unwrap();
    for v in 0..2 {
        let got = rt.block_on(content(&log, &rid(v)));
        for sec in 0..(SIZE / 512) as usize {
            let bytes = &got[sec * 512..(sec + 1) * 512];
            prop_assert!(bytes.iter().all(|&b| b == bytes[0]), "sector {} torn", sec);
            let val = bytes[0];
            // Candidates: (round, write, value) of writes covering this sector.
            let cover: Vec<(usize, usize, u8)> = rounds
                .iter()
                .enumerate()
                .flat_map(|(ri, r)| {
                    r.iter()
                        .enumerate()
                        .filter_map(move |(wi, &(vv, s, n, z))| {
                            (vv == v && (s as usize..(s + n) as usize).contains(&sec)).then_some((
                                ri,
                                wi,
                                if z { 0 } else { (ri * 8 + wi + 1) as u8 },
                            ))
                        })
                })
                .collect();
            let newest_acked = cover
                .iter()
                .filter(|(ri, wi, _)| acked.contains(&(*ri, *wi)))
                .max_by_key(|(ri, wi, _)| (*ri, *wi));
            let ok = match newest_acked {
                Some(&(ra, wa, va)) => {
                    val == va
                        // Writes of one round run concurrently: any order.
                        || cover.iter().any(|&(ri, wi, x)| x == val && ri >= ra && (ri, wi) != (ra, wa))
                }
                None => val == 0 || cover.iter().any(|&(_, _, x)| x == val),
            };
            prop_assert!(
                ok,
                "volume {} sector {} reads {} (acked {:?})",
                v,
                sec,
                val,
                newest_acked
            );
        }
    }
    log.close();
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
    #[test]
    fn crash_at_every_sync_keeps_acknowledged_writes(rounds in rounds(), tear in 0.0f64..1.0) {
        // Count the syncs of an uncrashed run, then crash at each.
        for durable in [true, false] {
            let (_, clean) = run_until_crash(&rounds, None, durable);
            let syncs = clean.crash.syncs();
            for at in 1..=syncs + 1 {
                let (acked, dir) = run_until_crash(&rounds, Some(at), durable);
                check(&rounds, &acked, &dir, 0.0)?;
                check(&rounds, &acked, &dir, tear)?;
            }
        }
    }
}

/// Writes `n` 4 KiB records of `tag` to volume `v` one at a time (each
/// acknowledged before the next); returns how many were acknowledged.
async fn fill(log: &WriteLog, v: usize, n: u64, tag: u8) -> u64 {
    let mut ok = 0;
    for i in 0..n {
        let at = (i * 4096) % SIZE;
        if log
            .write(&rid(v), at, Bytes::from(vec![tag; 4096]), false)
            .await
            .is_err()
        {
            break;
        }
        ok += 1;
    }
    ok
}

#[test]
fn recycled_segments_replay_only_their_own_records() {
    // Segments trimmed after a forget become spares (renamed, stale
    // records inside) and new segments reuse them: replay, after a clean
    // stop and after a crash at any sync, shows only records of the run
    // that wrote them, and the forgotten volume stays empty.
    let rt = rt();
    let run = |at: Option<u64>| {
        let dir = MemDir::crashing_at(at);
        let log = WriteLog::open(Arc::new(dir.clone()), cfg()).unwrap();
        let acked = rt.block_on(async {
            fill(&log, 0, 48, 0xAA).await;
            // Let the background preparation of a spare finish.
            for _ in 0..100 {
                if log.spares() > 0 || dir.crash.crashed() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            // A forget counts only if it happened before the crash (one
            // acknowledged after it can only have had nothing to void).
            if log.forget(&rid(0)).await.is_err() || dir.crash.crashed() {
                return (false, 0);
            }
            if log.trim().is_err() {
                return (true, 0);
            }
            (true, fill(&log, 1, 24, 0x55).await)
        });
        let spares = log.spares();
        log.close();
        (dir, acked, spares)
    };
    let (clean, (forgot, acked), spares) = run(None);
    assert!(forgot);
    assert_eq!(acked, 24);
    assert!(spares <= 2, "{spares} spares kept");
    let names = super::io::LogDir::list(&clean).unwrap();
    assert!(names.iter().all(|n| !n.ends_with(".wlog-tmp")), "{names:?}");
    let syncs = clean.crash.syncs();
    let check_dir = |dir: MemDir, (forgot, acked): (bool, u64)| {
        let log = WriteLog::open(Arc::new(dir), cfg()).unwrap();
        if forgot {
            assert!(
                log.pending(&rid(0), 0, SIZE).is_empty(),
                "forgotten volume came back"
            );
        } else {
            let got = rt.block_on(content(&log, &rid(0)));
            assert!(got.iter().all(|&b| b == 0 || b == 0xAA), "garbage replayed");
        }
        let got = rt.block_on(content(&log, &rid(1)));
        for i in 0..acked.min(SIZE / 4096) {
            let r = (i * 4096) as usize..((i + 1) * 4096) as usize;
            assert!(got[r].iter().all(|&b| b == 0x55), "acked record {i} lost");
        }
        assert!(
            got.iter().all(|&b| b == 0 || b == 0x55),
            "stale bytes replayed"
        );
        log.close();
    };
    check_dir(clean.after_crash(0.0), (forgot, acked));
    for at in 1..=syncs {
        let (dir, acked, _) = run(Some(at));
        check_dir(dir.after_crash(0.0), acked);
        check_dir(dir.after_crash(0.7), acked);
    }
}

#[test]
fn trimmed_space_returns_to_writers_in_both_ack_modes() {
    // Ten times the log's budget goes through it; each round is dropped
    // and trimmed, so writers only ever wait if space leaks.
    let rt = rt();
    for durable in [true, false] {
        let cfg = WlogConfig {
            durable_acks: durable,
            max_bytes: 4 * cfg().segment_bytes,
            ..cfg()
        };
        let budget = cfg.max_bytes;
        let log = WriteLog::open(Arc::new(MemDir::default()), cfg).unwrap();
        rt.block_on(async {
            let mut written = 0u64;
            while written < 10 * budget {
                let round = async {
                    for i in 0..8u64 {
                        log.write(&rid(0), i * 2048, Bytes::from(vec![7u8; 2048]), false)
                            .await
                            .unwrap();
                    }
                    log.forget(&rid(0)).await.unwrap();
                };
                tokio::time::timeout(std::time::Duration::from_secs(10), round)
                    .await
                    .unwrap_or_else(|_| {
                        panic!("writers starved after {written} bytes (durable {durable})")
                    });
                log.trim().unwrap();
                written += 8 * 2048;
            }
        });
        log.close();
    }
}
