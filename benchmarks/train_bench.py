"""Training speed and accuracy of the fast CPU path (`FastCPU`: bf16 autocast + channels_last) on this machine.

usage: python benchmarks/train_bench.py [--quick] [--no-speed] [--no-accuracy] [--arch densenet169] [--bs 32] [--threads N --tag _1thread]

1. Speed: training steps (forward + backward + Adam step) of DenseNet169 (random weights) on a batch of 96x96 images,
   in four modes (float32, channels_last, bf16 autocast, bf16 autocast + channels_last), interleaved round by round
   so that other load on the machine hits every mode alike; the median round is reported. The fastai Learner with and
   without the `FastCPU` callback is timed in the same run, to show the callback gives the raw speed-up.
2. Accuracy: the same small model (tiny_densenet) trained on the same real PCam patches with the same seeds, with and
   without `fast_cpu`, evaluated on PCam's own valid split (a seeded subset).
Prints the figures and writes benchmarks/results/train.json and train.md.
"""
from __future__ import annotations
import argparse, datetime, json, os, platform, statistics, time
from pathlib import Path
import numpy as np
import torch

def _load():
    return os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')

def step_fn(model, x, y, bf16, cl):
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    if cl:
        model = model.to(memory_format=torch.channels_last); x = x.contiguous(memory_format=torch.channels_last)
    def step():
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            out = model(x)
        loss = torch.nn.functional.cross_entropy(out.float(), y)
        loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
    return step

MODES = {'float32': (False, False), 'channels_last': (False, True), 'bf16': (True, False), 'bf16+channels_last': (True, True)}

def speed(arch='densenet169', bs=32, steps=3, rounds=3):
    from sslxai.train import create_model
    torch.manual_seed(0)
    x, y = torch.randn(bs, 3, 96, 96), torch.randint(0, 2, (bs,))
    fns = {}
    for k, (bf16, cl) in MODES.items():
        torch.manual_seed(0); m = create_model(arch).train()
        fns[k] = step_fn(m, x, y, bf16, cl); fns[k]()    # warm-up step
    res = {k: [] for k in MODES}
    for r in range(rounds):
        for k, f in fns.items():
            t = time.perf_counter()
            for _ in range(steps): f()
            res[k].append(bs*steps/(time.perf_counter() - t))
        print(f"  round {r}: " + ', '.join(f"{k} {v[-1]:.1f}" for k, v in res.items()), flush=True)
    return {k: statistics.median(v) for k, v in res.items()}, res

def learner_speed(arch='densenet169', bs=32, n_batches=3, rounds=3):
    "img/s of `learn.fit` (training batches only) with and without FastCPU, on random tensors."
    from fastai.data.core import DataLoaders, TfmdDL
    from fastai.torch_core import TensorImage, TensorCategory
    from sslxai.train import pcam_learner
    g = torch.Generator().manual_seed(0)
    items = [(TensorImage(torch.randn(3, 96, 96, generator=g)), TensorCategory(i % 2)) for i in range(bs*n_batches)]
    dls = DataLoaders(TfmdDL(items, bs=bs, shuffle=True, drop_last=True), TfmdDL(items[:2], bs=2)); dls.c = 2
    learns = {}
    for fast in (False, True):
        torch.manual_seed(0); learns[fast] = pcam_learner(dls, arch, fast_cpu=fast, metrics=[])
        with learns[fast].no_bar(), learns[fast].no_logging(): learns[fast].fit(1, 1e-4)   # warm-up
    res = {False: [], True: []}
    for r in range(rounds):
        for fast, learn in learns.items():
            t = time.perf_counter()
            with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-4)
            dt = time.perf_counter() - t
            res[fast].append(bs*n_batches/dt)
        print(f"  learner round {r}: plain {res[False][-1]:.1f}, fast_cpu {res[True][-1]:.1f}", flush=True)
    return {'learner': statistics.median(res[False]), 'learner+FastCPU': statistics.median(res[True])}

def accuracy(n_train=3000, n_valid=1000, epochs=4, seeds=(0, 1), lr=1e-2, bs=64, arch='tiny_densenet'):
    "Same data, seeds and schedule, with and without fast_cpu; scored on a fixed subset of PCam's valid split."
    from sklearn.metrics import roc_auc_score
    from sslxai.core import data_path, set_seed
    from sslxai.data import open_source, pcam_dls, ArraySource
    from sslxai.train import pcam_learner
    src = open_source(data_path('pcam-subset'))
    va = src.splits['valid']
    vi = np.sort(np.random.default_rng(123).choice(va, min(n_valid, len(va)), replace=False))
    test = ArraySource(*src.get_batch(vi))
    rows = []
    for seed in seeds:
        for fast in (False, True):
            set_seed(seed)
            dls = pcam_dls(src, bs=bs, seed=seed, n=n_train, device='cpu')
            learn = pcam_learner(dls, arch, fast_cpu=fast)
            t = time.perf_counter()
            with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, lr)
            dt = time.perf_counter() - t
            with learn.no_bar(): p, y = learn.get_preds(dl=dls.test_dl(test))
            acc, auc = float((p.argmax(1) == y).float().mean()), float(roc_auc_score(y.numpy(), p[:, 1].numpy()))
            rows.append(dict(seed=seed, fast_cpu=fast, valid_acc=acc, valid_auc=auc, n_train=len(dls.train_ds),
                             n_valid=len(test), epochs=epochs, fit_s=round(dt, 1), train_img_s=round(len(dls.train_ds)*epochs/dt, 1)))
            print(f"  seed {seed} fast_cpu={fast}: acc {acc:.4f} auc {auc:.4f} (fit {dt:.0f} s)", flush=True)
    return rows

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--quick', action='store_true'); ap.add_argument('--no-speed', action='store_true')
    ap.add_argument('--no-accuracy', action='store_true'); ap.add_argument('--arch', default='densenet169')
    ap.add_argument('--bs', type=int, default=32)
    ap.add_argument('--threads', type=int, default=None, help='torch.set_num_threads for this run (default: torch default)')
    ap.add_argument('--tag', default='', help='suffix of the results files, e.g. _1thread')
    a = ap.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    out = dict(date=datetime.date.today().isoformat(), machine=platform.platform(), processor=platform.processor(),
               cpus=os.cpu_count(), torch=torch.__version__, threads=torch.get_num_threads(),
               cuda=torch.cuda.is_available(), load_start=_load(), cpu_capability=torch.backends.cpu.get_cpu_capability(),
               native_bf16=bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()))
    out['threads'] = torch.get_num_threads()
    print(f"{out['date']} {out['machine']} CPU capability {out['cpu_capability']} (native bf16: {out['native_bf16']}) cpus={out['cpus']} torch {out['torch']} threads={out['threads']} "
          f"load average {out['load_start']:.1f}")
    if not a.no_speed:
        print(f"speed: {a.arch}, batch {a.bs} at 96x96, img/s of training steps (median of rounds)")
        med, allr = speed(a.arch, a.bs, steps=1 if a.quick else 3, rounds=2 if a.quick else 3)
        med.update(learner_speed(a.arch, a.bs, n_batches=2 if a.quick else 3, rounds=2 if a.quick else 3))
        out['speed'] = dict(arch=a.arch, bs=a.bs, img_per_s=med, rounds=allr)
        for k, v in med.items(): print(f"  [{out['cpu_capability']}] {k:<20} {v:6.1f} img/s  ({v/med['float32']:.2f}x float32)")
    if not a.no_accuracy:
        kw = dict(n_train=1000, n_valid=300, epochs=2, seeds=(0,)) if a.quick else {}
        print("accuracy: tiny_densenet on real PCam patches, float32 vs fast_cpu, PCam valid split")
        out['accuracy'] = accuracy(**kw)
    out['load_end'] = _load()
    res = Path(__file__).parent/'results'; res.mkdir(exist_ok=True)
    (res/f'train{a.tag}.json').write_text(json.dumps(out, indent=1))
    md = [f"# train_bench: {out['date']}, {out['machine']}, CPU capability {out['cpu_capability']} (native bf16: {out['native_bf16']}), {out['cpus']} CPUs, torch {out['torch']}, "
          f"{out['threads']} threads, load average {out['load_start']:.1f} -> {out['load_end']:.1f}", '']
    if 'speed' in out:
        md += [f"## Speed: {a.arch}, batch {a.bs}, 96x96, training img/s (median)", '', '| CPU capability | mode | img/s | vs float32 |', '|---|---|---|---|']
        f32 = out['speed']['img_per_s']['float32']
        md += [f"| {out['cpu_capability']} | {k} | {v:.1f} | {v/f32:.2f}x |" for k, v in out['speed']['img_per_s'].items()]
    if 'accuracy' in out:
        r0 = out['accuracy'][0]
        md += ['', f"## Accuracy: tiny_densenet, {r0['n_train']} real training patches, {r0['epochs']} epochs; "
               f"float32 vs fast_cpu, scored on {r0['n_valid']} patches of PCam's valid split", '',
               '| seed | fast_cpu | valid acc | valid AUC | fit s | train img/s |', '|---|---|---|---|---|---|']
        md += [f"| {r['seed']} | {r['fast_cpu']} | {r['valid_acc']:.4f} | {r['valid_auc']:.4f} | {r['fit_s']} | {r['train_img_s']} |" for r in out['accuracy']]
    (res/f'train{a.tag}.md').write_text('\n'.join(md) + '\n')
    print('\n'.join(md))
