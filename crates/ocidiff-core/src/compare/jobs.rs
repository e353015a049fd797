//! Running a handful of jobs of very different sizes (layers, blobs) on rayon's threads.

/// Runs `work` on every job on rayon's threads, each thread taking the largest job left: a
/// few layers of very different sizes then finish together (rayon's own splitting let two
/// big ones queue on one thread while another sat idle: 25 % longer on two layers a side).
/// Jobs of less than 64 KiB in all run on the calling thread. The results in job order, or the
/// first job's error.
pub(super) fn largest_first<J, T, E>(
    mut jobs: Vec<J>,
    size: impl Fn(&J) -> u64,
    work: impl Fn(J) -> Result<T, E> + Sync,
) -> Result<Vec<T>, E>
where
    J: Send + Sync + Copy,
    T: Send,
    E: Send,
{
    jobs.sort_by_key(|j| std::cmp::Reverse(size(j)));
    // Waking threads costs more than a few small jobs take (many small layers: a third of
    // the run).
    if jobs.len() < 2 || jobs.iter().map(&size).sum::<u64>() < 64 << 10 {
        return jobs.into_iter().map(work).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done: std::sync::Mutex<Vec<(usize, Result<T, E>)>> = std::sync::Mutex::new(Vec::new());
    let threads = rayon::current_num_threads().min(jobs.len());
    rayon::scope(|s| {
        for _ in 0..threads {
            s.spawn(|_| {
                loop {
                    let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&job) = jobs.get(k) else { break };
                    let result = work(job);
                    done.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push((k, result));
                }
            });
        }
    });
    let mut done = done
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    done.sort_by_key(|(k, _)| *k);
    done.into_iter().map(|(_, r)| r).collect()
}
