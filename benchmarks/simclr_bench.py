"""SimCLR training-step throughput: the fastai `SimCLR` Callback against a bare PyTorch loop, plus augmentation cost.

Both paths train the same model (`create_simclr_model`, tiny DenseNet by default) with the same `SimCLRAugment`,
the same `nt_xent` loss and the same optimiser (torch Adam; fastai's own Adam is a third row), on the same batches
of one fastai DataLoader. The bare loop is what the Callback replaces:

    for (x,) in dl: v1, v2 = aug(x); loss = nt_xent(*model(cat([v1, v2])).chunk(2)); loss.backward(); opt.step(); opt.zero_grad()

Only the training phase is timed (fastai: from `before_train` to `after_train`), in alternating repetitions; the
median is reported. The Callback's overhead should be at most 10%. The augmentation is also timed on its own, in
total and per transform, and against a per-image torchvision.transforms.v2 pipeline of the same transforms (no HED).

    python benchmarks/simclr_bench.py                 # CPU defaults (2-core CPU: about 5-10 minutes when busy)
    python benchmarks/simclr_bench.py --threads 1     # steadier CPU-time figures when other jobs share the CPU
    python benchmarks/simclr_bench.py --device cuda --bs 256 --amp   # on a GPU
Writes benchmarks/results/simclr.json and simclr.md.
"""
import argparse, json, platform, statistics, sys, time, datetime
from functools import partial
from pathlib import Path
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from fastai.data.core import DataLoaders
from fastai.learner import Learner
from fastai.callback.core import Callback
from fastai.optimizer import OptimWrapper, Adam as FastaiAdam
from sslxai.augment import SimCLRAugment
from sslxai.losses import nt_xent
from sslxai.simclr import SimCLR, create_simclr_model, simclr_splitter

def sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize()

class TrainTimer(Callback):
    "Wall time and process CPU time of each training phase."
    order = 100
    def __init__(self): self.times, self.cpu = [], []
    def before_train(self): sync(self.dls.device); self.t0, self.c0 = time.perf_counter(), time.process_time()
    def after_train(self):
        sync(self.dls.device)
        self.times.append(time.perf_counter() - self.t0); self.cpu.append(time.process_time() - self.c0)

def make_dls(n, bs, dev, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, 96, 96, generator=g)
    items = [(t,) for t in x]
    return DataLoaders.from_dsets(items, items[:bs], bs=bs, device=dev, drop_last=True, num_workers=0)

def bare_epoch(model, opt, aug, dl, temp, amp, scaler, dev):
    "One epoch of the bare loop; returns (wall time, process CPU time)."
    model.train()
    sync(dev); t0, c0 = time.perf_counter(), time.process_time()
    for (x,) in dl:
        with torch.no_grad(): v1, v2 = aug(x)
        with torch.autocast(dev.type, dtype=torch.float16, enabled=amp):
            z = model(torch.cat([v1, v2]))
        loss = nt_xent(*z.float().chunk(2), temp)
        scaler.scale(loss).backward()
        scaler.step(opt); scaler.update(); opt.zero_grad()
    sync(dev)
    return time.perf_counter() - t0, time.process_time() - c0

def time_aug(aug, x, reps, dev):
    aug(x, generator=0)
    ts = []
    for r in range(reps):
        sync(dev); t0 = time.perf_counter(); aug(x, generator=r + 1); sync(dev); ts.append(time.perf_counter() - t0)
    return statistics.median(ts)

def torchvision_views(x, size):
    "Two views with a per-image torchvision.transforms.v2 pipeline (the usual way): crop, flips, jitter, gray, blur."
    from torchvision.transforms import v2
    t = v2.Compose([v2.RandomResizedCrop(size, scale=(0.4, 1.0), antialias=True), v2.RandomHorizontalFlip(),
                    v2.RandomVerticalFlip(), v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.05)], p=0.8),
                    v2.RandomGrayscale(0.2), v2.RandomApply([v2.GaussianBlur(9, (0.1, 2.0))], p=0.5)])
    return torch.stack([t(i) for i in x]), torch.stack([t(i) for i in x])

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--arch', default='tiny_densenet')
    p.add_argument('--bs', type=int, default=32, help='images per batch (2x views per step)')
    p.add_argument('--steps', type=int, default=6, help='training steps per timed epoch')
    p.add_argument('--reps', type=int, default=5, help='timed epochs per path (alternating)')
    p.add_argument('--temp', type=float, default=0.1)
    p.add_argument('--amp', action='store_true', help='float16 autocast (CUDA): MixedPrecision vs autocast+GradScaler')
    p.add_argument('--threads', type=int, default=0, help='torch threads (0: leave as is); 1 gives steadier CPU times on a busy machine')
    p.add_argument('--out', default=str(ROOT/'benchmarks'/'results'/'simclr'))
    a = p.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    torch.manual_seed(0)
    dls = make_dls(a.bs * a.steps, a.bs, dev)
    aug = SimCLRAugment()
    model0 = create_simclr_model(a.arch).to(dev)
    state = {k: v.clone() for k, v in model0.state_dict().items()}

    def fresh_model():
        m = create_simclr_model(a.arch).to(dev); m.load_state_dict(state); return m

    # the three paths, each with its own model copy (same initial weights)
    bare_m = fresh_model()
    bare_opt = torch.optim.Adam(bare_m.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler(dev.type, enabled=a.amp and dev.type == 'cuda')
    learners = {}
    for name, opt_func in [('fastai Callback, torch Adam', partial(OptimWrapper, opt=torch.optim.Adam)),
                           ('fastai Callback, fastai Adam', FastaiAdam)]:
        timer = TrainTimer()
        l = Learner(dls, fresh_model(), loss_func=lambda *a: None, opt_func=opt_func, lr=1e-3, splitter=simclr_splitter,
                    cbs=[SimCLR(aug=aug, temp=a.temp), timer])
        if a.amp: l = l.to_fp16()
        learners[name] = (l, timer)

    def run_learner(l):
        with l.no_bar(), l.no_logging(): l.fit(1, 1e-3)
    # warm-up (first-call kernel selection, allocator)
    bare_epoch(bare_m, bare_opt, aug, dls.train, a.temp, a.amp, scaler, dev)
    for l, _ in learners.values(): run_learner(l)
    for _, t in learners.values(): t.times.clear(); t.cpu.clear()
    bare_times, bare_cpu = [], []
    for r in range(a.reps):
        w, c = bare_epoch(bare_m, bare_opt, aug, dls.train, a.temp, a.amp, scaler, dev)
        bare_times.append(w); bare_cpu.append(c)
        for l, _ in learners.values(): run_learner(l)
    rows = {'bare PyTorch loop, torch Adam': bare_times, **{k: t.times for k, (l, t) in learners.items()}}
    cpu_rows = {'bare PyTorch loop, torch Adam': bare_cpu, **{k: t.cpu for k, (l, t) in learners.items()}}
    base = statistics.median(bare_times) / a.steps
    base_min = min(bare_times) / a.steps
    base_cpu = statistics.median(bare_cpu) / a.steps
    step = {k: dict(median_s=statistics.median(v) / a.steps, min_s=min(v) / a.steps,
                    imgs_per_s=a.bs * a.steps / statistics.median(v),
                    overhead_pct=100 * (statistics.median(v) / a.steps / base - 1),
                    overhead_min_pct=100 * (min(v) / a.steps / base_min - 1),
                    cpu_s=statistics.median(cpu_rows[k]) / a.steps,
                    overhead_cpu_pct=100 * (statistics.median(cpu_rows[k]) / a.steps / base_cpu - 1)) for k, v in rows.items()}

    # augmentation cost per batch
    x = next(iter(dls.train))[0]
    reps = max(3, a.reps)
    full = time_aug(aug, x, reps, dev)
    off = dict(jitter=0, hed=0, gray_p=0, blur_p=0)
    parts = {'crop+flip+rot90 only': SimCLRAugment(**off),
             '+ HED jitter': SimCLRAugment(**{**off, 'hed': 0.05}),
             '+ colour jitter + gray': SimCLRAugment(**{**off, 'hed': 0.05, 'jitter': 0.4, 'gray_p': 0.2}),
             'full (+ blur)': aug}
    aug_rows = {k: time_aug(m, x, reps, dev) for k, m in parts.items()}
    tv = None
    if dev.type == 'cpu':
        xc = x.cpu()
        torchvision_views(xc[:2], 96)
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter(); torchvision_views(xc, 96); ts.append(time.perf_counter() - t0)
        tv = statistics.median(ts)

    res = dict(date=datetime.datetime.now().isoformat(timespec='seconds'), machine=platform.platform(),
               processor=platform.processor(), python=platform.python_version(), torch=torch.__version__,
               threads=torch.get_num_threads(), device=str(dev), gpu=torch.cuda.get_device_name(0) if dev.type == 'cuda' else None,
               arch=a.arch, bs=a.bs, views_per_step=2 * a.bs, size=96, steps=a.steps, reps=a.reps, amp=a.amp,
               step=step, aug_two_views_s=full, aug_fraction_of_step=full / base, aug_parts_s=aug_rows,
               torchvision_per_image_two_views_s=tv, raw_epoch_times_s=rows, raw_epoch_cpu_s=cpu_rows,
               load_avg=list(__import__('os').getloadavg()))
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix('.json').write_text(json.dumps(res, indent=1) + '\n')
    md = [f"# SimCLR step throughput ({res['date'][:10]}, {res['device']}{' ' + res['gpu'] if res['gpu'] else ''}, "
          f"{res['threads']} threads, {platform.machine()})", "",
          f"{a.arch}, {a.bs} images = {2*a.bs} views of 96 px per step, {a.steps} steps per timed epoch, median of "
          f"{a.reps} epochs{', float16 autocast' if a.amp else ''}. Load average at the end: "
          f"{res['load_avg'][0]:.1f} (other processes share the CPU: wall times are noisy; CPU time is the steadier measure).", "",
          "| path | s/step wall (median) | s/step wall (min) | images/s | overhead, wall median | overhead, wall min | CPU s/step | overhead, CPU time |",
          "|---|---|---|---|---|---|---|---|"]
    for k, v in step.items():
        md.append(f"| {k} | {v['median_s']:.3f} | {v['min_s']:.3f} | {v['imgs_per_s']:.1f} | {v['overhead_pct']:+.1f}% | "
                  f"{v['overhead_min_pct']:+.1f}% | {v['cpu_s']:.3f} | {v['overhead_cpu_pct']:+.1f}% |")
    md += ["", f"Augmentation, two views of a batch of {a.bs} (median of {reps}):", "",
           "| pipeline | s/batch | share of a bare step |", "|---|---|---|"]
    for k, v in aug_rows.items(): md.append(f"| SimCLRAugment: {k} | {v:.3f} | {100*v/base:.0f}% |")
    if tv is not None: md.append(f"| torchvision.transforms.v2, per image (no HED) | {tv:.3f} | {100*tv/base:.0f}% |")
    out.with_suffix('.md').write_text('\n'.join(md) + '\n')
    print('\n'.join(md))

if __name__ == '__main__': main()
