//! The small-op workload on one backend: single-row kv_put and single-key
//! kv_batch_get, from one task and from many; for Redis against the engine
//! at the same value size (`redis-benchmark -P 1 -c 1`, and `-c <tasks>`).

use indicatif::ProgressBar;

#[cfg(feature = "redis")]
use crate::engine_run::EngineRun;
use crate::open::Opened;
use crate::report::{Figure, Report, Target};
use crate::run::{Options, Samples};
use crate::workload;

/// Redis: the engine for one task (`-P 1 -c 1` on one server: a task
/// talks to one server at a time) and for `tasks` tasks (`-P 1`, `tasks`
/// connections spread over every master).
#[cfg(feature = "redis")]
async fn engine_for(b: &Opened, opts: &Options, tasks: usize) -> Result<Vec<EngineRun>, String> {
    let Some(target) = &b.redis else {
        return Ok(Vec::new());
    };
    let value = opts.tiny_len.max(1) * 4;
    let sizing = (opts.engine_secs, opts.engine_requests);
    let one = EngineRun::calibrated(target, Some(1), 1, 1, value, sizing).await?;
    let per_node = tasks.div_ceil(target.nodes.len().max(1)).max(1);
    let many = EngineRun::calibrated(target, None, per_node, 1, value, sizing).await?;
    Ok(vec![one, many])
}

/// Runs the small-op rounds on `b` and adds their figures to `report`.
pub(crate) async fn small_op_workload(
    b: &Opened,
    opts: &Options,
    bar: &ProgressBar,
    report: &mut Report,
) -> Result<(), String> {
    let (n, tasks) = if b.remote {
        (opts.small_ops_remote, opts.tasks_remote)
    } else {
        (opts.small_ops, opts.tasks)
    };
    #[cfg(feature = "redis")]
    let engine = {
        bar.set_message(format!("{} small ops: sizing the engine baseline", b.name));
        engine_for(b, opts, tasks).await?
    };
    let mut samples = Samples::default();
    for i in 0..opts.warmup + opts.iterations {
        bar.set_message(format!("{} small ops: round {}", b.name, i + 1));
        #[allow(unused_mut)] // only the engine's samples go in without `redis`
        let mut s = Samples::default();
        #[cfg(feature = "redis")]
        if let Some(target) = &b.redis {
            for run in &engine {
                let (set, get) = run.sample(target, n).await?;
                s.push(&run.set_name, set);
                s.push(&run.get_name, get);
            }
        }
        let t = workload::small_ops(&b.tq, n, tasks, opts.tiny_len, "small").await?;
        if i >= opts.warmup {
            samples.extend(s);
            samples.push("put1", t.put_seq);
            samples.push("get1", t.get_seq);
            samples.push("putN", t.put_conc);
            samples.push("getN", t.get_conc);
        }
        bar.inc(1);
    }
    let label = format!("{n} single-key ops, row of {} x f32", opts.tiny_len);
    let fig = |name: &str, key: &str, samples: &mut Samples| {
        Figure::new(&b.name, &label, name, samples.take(key)).ops(n)
    };
    let mut put1 = fig("kv_put, 1 task", "put1", &mut samples);
    if !b.remote {
        put1 = put1.target(Target::MinRate(200_000.0));
    }
    let get1 = fig("kv_batch_get of 1 key, 1 task", "get1", &mut samples);
    let put_n = fig(&format!("kv_put, {tasks} tasks"), "putN", &mut samples);
    let get_n = fig(
        &format!("kv_batch_get of 1 key, {tasks} tasks"),
        "getN",
        &mut samples,
    );
    let figs = [put1, get1, put_n, get_n];
    #[cfg(feature = "redis")]
    let figs = match engine.as_slice() {
        [one, many] => {
            let mut rows = Vec::new();
            for run in [one, many] {
                rows.push(fig(&run.set_name, &run.set_name, &mut samples));
                rows.push(fig(&run.get_name, &run.get_name, &mut samples));
            }
            let [put1, get1, put_n, get_n] = figs;
            let figs = [
                put1.against(&rows[0]),
                get1.against(&rows[1]),
                put_n.against(&rows[2]),
                get_n.against(&rows[3]),
            ];
            report.figures.extend(rows);
            figs
        }
        _ => figs,
    };
    report.figures.extend(figs);
    Ok(())
}
