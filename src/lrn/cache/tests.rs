use super::*;
use std::sync::Arc;

fn tmp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("tandem-lrn-{name}-{}", std::process::id()))
}

#[test]
fn put_get_expire() {
    let path = tmp("basic");
    let c = LrnCache::open(&path, 1024).unwrap();
    assert!(!c.reused);
    assert_eq!(c.get(2125551212, 100), None);
    c.put(2125551212, Answer::Ported(3105550000), 200, 100);
    c.put(4155551212, Answer::NotPorted, 150, 100);
    assert_eq!(c.get(2125551212, 199), Some(Answer::Ported(3105550000)));
    assert_eq!(c.get(4155551212, 149), Some(Answer::NotPorted));
    assert_eq!(c.get(2125551212, 200), None, "expired");
    assert_eq!(c.usage(149), Usage { slots: 1024, live: 2, ported: 1, expired: 0 });
    c.put(2125551212, Answer::Ported(6465550000), 300, 250);
    assert_eq!(c.get(2125551212, 250), Some(Answer::Ported(6465550000)), "replaced in place");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn survives_reopen_and_refuses_foreign_files() {
    let path = tmp("reopen");
    let _ = std::fs::remove_file(&path);
    {
        let c = LrnCache::open(&path, 1024).unwrap();
        c.put(2125551212, Answer::Ported(3105550000), 1000, 0);
    }
    let c = LrnCache::open(&path, 1024).unwrap();
    assert!(c.reused);
    assert_eq!(c.get(2125551212, 1), Some(Answer::Ported(3105550000)));
    drop(c);
    // Another size: recreated, never trusted.
    let c = LrnCache::open(&path, 2048).unwrap();
    assert!(!c.reused);
    assert_eq!(c.get(2125551212, 1), None);
    drop(c);
    // A damaged header of the right size: recreated.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    assert!(!LrnCache::open(&path, 2048).unwrap().reused);
    assert!(matches!(LrnCache::open(&path, 1000), Err(CacheError::Slots(1000))));
    assert_eq!(LrnCache::open(&path, 1500).unwrap().usage(0).slots, 1500, "any size");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn full_probe_chain_evicts_the_earliest_expiry() {
    let path = tmp("evict");
    let c = LrnCache::open(&path, 1024).unwrap();
    // Many keys, few slots per chain: the table keeps working and answers stay exact.
    for tn in 2_000_000_000u64..2_000_005_000 {
        c.put(tn, Answer::Ported(tn + 1), 10_000 + (tn % 100) as u32, 0);
    }
    let mut hits = 0;
    for tn in 2_000_000_000u64..2_000_005_000 {
        match c.get(tn, 1) {
            Some(Answer::Ported(l)) => {
                assert_eq!(l, tn + 1);
                hits += 1;
            }
            Some(other) => panic!("{other:?}"),
            None => {}
        }
    }
    assert!(hits > 900 && hits <= 1024, "{hits}");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn concurrent_writers_never_produce_torn_reads() {
    let path = tmp("torn");
    let c = Arc::new(LrnCache::open(&path, 1024).unwrap());
    // Every writer stores lrn = tn * 3 + writer-independent check value, so a
    // reader can tell a torn (mixed) entry: lrn must always equal tn * 3.
    // 16 hot numbers keep their slots; 4096 more overflow the 1024 slots, so
    // slots change hands between numbers all the time (the case a lookup
    // that matches on the key word first must survive).
    let keys: Vec<u64> = (0..16).chain(100..4196).map(|i| 2_125_550_000 + i).collect();
    for &tn in &keys {
        c.put(tn, Answer::Ported(tn * 3), 1_000, 0); // readers find entries from the start
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut handles = Vec::new();
    for w in 0..3u32 {
        let (c, keys, stop) = (Arc::clone(&c), keys.clone(), Arc::clone(&stop));
        handles.push(std::thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) && n < 200_000 {
                let tn = keys[(n as usize + w as usize) % keys.len()];
                c.put(tn, Answer::Ported(tn * 3), 1_000 + n, 0);
                n += 1;
            }
        }));
    }
    for _ in 0..2 {
        let (c, keys) = (Arc::clone(&c), keys.clone());
        handles.push(std::thread::spawn(move || {
            let mut hits = 0u32;
            for n in 0..200_000usize {
                let tn = keys[n % keys.len()];
                if let Some(Answer::Ported(l)) = c.get(tn, 1) {
                    assert_eq!(l, tn * 3, "torn read");
                    hits += 1;
                }
            }
            assert!(hits > 0, "the readers must see entries to check them");
        }));
    }
    for h in handles.drain(3..) {
        h.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    let _ = std::fs::remove_file(&path);
}
