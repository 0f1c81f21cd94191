"""What a second process costs and gives on a CPU: one training step of the same global batch, in one process and in two.

usage: python benchmarks/dist_bench.py [--bs 64] [--steps 12] [--warmup 3] [--arch tiny_densenet] [--tag ""]

The same model (tiny_densenet, random init) trains on the same real PCam patches (pcam-subset, under SSLXAI_DATA),
global batch `bs`, through the library's own path (`pcam_learner`, `shard_dls`, `distributed`, i.e. fastai's
`distrib_ctx` on Hugging Face Accelerate, `gloo`), in four modes:

- `1 process x 1 thread`: the baseline, batch bs;
- `1 process x 2 threads`: the same, with both cores through torch's threads;
- `2 processes x 1 thread`: `torchrun --standalone --nproc_per_node 2`, bs/2 images per process, gradients all-reduced;
- `2 processes, no all-reduce`: the same with `DistributedDataParallel.no_sync()` around every backward pass, so
  the gradients are not exchanged: the difference to the previous mode is the communication cost per step.

Each step is timed from `before_batch` to `after_step` (forward, backward with its all-reduce, optimiser step; reading
the batch is not included), after `warmup` steps; the median is reported. Startup (imports, process group, data) is not counted. On a 2-core
machine two processes cannot beat two threads by much; the point is the communication overhead per step, which is
what sizing a cluster needs. Writes benchmarks/results/dist{tag}.json and .md.
"""
from __future__ import annotations
import argparse, datetime, json, os, platform, statistics, subprocess, sys, tempfile, time
from pathlib import Path

HERE = Path(__file__).resolve().parent

def worker(args):
    "Run inside each process: train `steps` steps, time each; process 0 writes the times."
    import torch
    from fastai.callback.core import Callback, CancelFitException
    from sslxai.core import data_path, set_seed
    from sslxai.data import pcam_dls
    from sslxai.train import pcam_learner
    from sslxai.recipe import world, start_group, shard_dls, distributed, process_batch
    rank, ws = world()
    dev = start_group(300)
    set_seed(0)
    dls = shard_dls(pcam_dls(data_path('pcam-subset'), bs=process_batch(args.bs, ws), n=args.bs*(args.steps + args.warmup + 1),
                             aug=False, device=dev or 'cpu'))

    class Timer(Callback):
        order = 99
        def __init__(self): self.t, self.n = [], 0
        def before_batch(self):
            self.t0 = time.perf_counter()
            if args.no_sync: self.ctx = self.learn.model.no_sync(); self.ctx.__enter__()
        def after_backward(self):
            if args.no_sync: self.ctx.__exit__(None, None, None)
        def after_step(self):
            self.n += 1
            if self.n > args.warmup: self.t.append(time.perf_counter() - self.t0)
            if self.n >= args.warmup + args.steps: raise CancelFitException()
    learn = pcam_learner(dls, args.arch)
    timer = Timer()
    with distributed(learn), learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3, cbs=timer)
    n_grad = sum(p.numel() for p in learn.model.parameters())
    if rank == 0:
        Path(args.out).write_text(json.dumps(dict(times=timer.t, world=ws, threads=torch.get_num_threads(),
                                                  grad_mb=n_grad*4/2**20, per_process_bs=args.bs//ws)))

MODES = {  # name: (processes, threads per process, no_sync)
    '1 process x 1 thread': (1, 1, False),
    '1 process x 2 threads': (1, 2, False),
    '2 processes x 1 thread': (2, 1, False),
    '2 processes x 1 thread, no all-reduce': (2, 1, True),
}

def run_mode(name, nproc, threads, no_sync, args, tmp):
    out = Path(tmp)/f"{name.replace(' ', '_').replace(',', '')}.json"
    cmd = [str(Path(__file__).resolve()), '--worker', '--bs', str(args.bs), '--steps', str(args.steps), '--warmup', str(args.warmup),
           '--arch', args.arch, '--out', str(out)] + (['--no_sync'] if no_sync else [])
    cmd = ([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', str(nproc)] if nproc > 1
           else [sys.executable]) + cmd
    env = {**os.environ, 'OMP_NUM_THREADS': str(threads)}
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode: raise SystemExit(f"{name}: exit {p.returncode}\n{p.stderr[-3000:]}")
    r = json.loads(out.read_text())
    r['wall_s'] = round(time.perf_counter() - t0, 1)
    return r

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--worker', action='store_true'); ap.add_argument('--no_sync', action='store_true')
    ap.add_argument('--out', default=None); ap.add_argument('--bs', type=int, default=64)
    ap.add_argument('--steps', type=int, default=12); ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--arch', default='tiny_densenet'); ap.add_argument('--tag', default='')
    args = ap.parse_args()
    if args.worker: return worker(args)
    import torch
    load0 = os.getloadavg()[0]
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (nproc, threads, no_sync) in MODES.items():
            r = run_mode(name, nproc, threads, no_sync, args, tmp)
            r['median_s'] = statistics.median(r['times']); r['img_s'] = args.bs/r['median_s']
            res[name] = r
            print(f"{name}: {r['median_s']*1000:.0f} ms/step, {r['img_s']:.1f} img/s (median of {len(r['times'])} steps)", flush=True)
    base = res['1 process x 1 thread']['median_s']
    comm = res['2 processes x 1 thread']['median_s'] - res['2 processes x 1 thread, no all-reduce']['median_s']
    info = dict(date=datetime.date.today().isoformat(), machine=f"{platform.machine()}, {os.cpu_count()} cores",
                cpu_capability=torch.backends.cpu.get_cpu_capability(), torch=str(torch.__version__),
                load_average=[round(load0, 1), round(os.getloadavg()[0], 1)], arch=args.arch, global_bs=args.bs,
                steps=args.steps, warmup=args.warmup, grad_mb=res['2 processes x 1 thread']['grad_mb'],
                comm_ms_per_step=comm*1000, comm_share=comm/res['2 processes x 1 thread']['median_s'], modes=res)
    (HERE/'results'/f"dist{args.tag}.json").write_text(json.dumps(info, indent=1))
    lines = [f"# dist_bench: {info['date']}, {info['machine']}, CPU capability {info['cpu_capability']}, torch {info['torch']}, "
             f"load average {info['load_average'][0]} -> {info['load_average'][1]}", '',
             f"{args.arch}, global batch {args.bs} of real PCam patches (96 px), median of {args.steps} training steps after "
             f"{args.warmup} warm-up steps; the all-reduced gradients are {info['grad_mb']:.2f} MB (float32) a step.", '',
             '| mode | ms / step | img / s | vs 1 process x 1 thread |', '|---|---|---|---|']
    for name, r in res.items():
        lines.append(f"| {name} | {r['median_s']*1000:.0f} | {r['img_s']:.1f} | {base/r['median_s']:.2f}x |")
    lines += ['', f"Communication (gloo all-reduce of the gradients, the difference of the last two rows): "
                  f"{comm*1000:.0f} ms a step, {info['comm_share']:.0%} of a 2-process step."]
    (HERE/'results'/f"dist{args.tag}.md").write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))

if __name__ == '__main__': main()
