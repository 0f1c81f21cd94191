"""Grad-CAM speed and agreement: sslxai vs pytorch-grad-cam vs captum `LayerGradCam` vs a plain forward pass.

DenseNet169 (random weights), a batch of 64 at 96x96, on the CPU, at `features.denseblock4` and `features.denseblock3`.

    python benchmarks/gradcam_bench.py              # full run (a few minutes on a 2-core CPU)
    python benchmarks/gradcam_bench.py --quick      # smoke test: batch 8, one round

Prints the figures and writes benchmarks/results/gradcam.json and gradcam.md.

Timing: rounds are interleaved (forward, sslxai, pytorch-grad-cam, captum, then again), so that the load of other
processes on a shared machine hits every method alike. The best of the rounds is reported, and the median and the
spread are kept as the noise figure. All explain the predicted class. captum needs the predicted class as `target`,
so its row includes the separate forward that computes it (what a user must do). The `given targets` rows pass
precomputed classes to both sslxai and captum, to compare like with like.

Agreement: pytorch-grad-cam returns maps min-max normalised as (m - min) / (1e-7 + max - min) after a ReLU, resized to
the input size with `cv2.resize` (bilinear, half-pixel centres, the same as `F.interpolate(align_corners=False)`),
and normalised once more. The benchmark compares two ways:
  * `diff_input`: sslxai's raw maps put through exactly that pipeline (`pgc_norm(upsample(pgc_norm(maps), 96))`),
    against pytorch-grad-cam's output at 96x96;
  * `diff_layer`: at the layer's resolution, where pytorch-grad-cam is asked for maps of the layer's size (its resize
    is then the identity), against `pgc_norm(pgc_norm(maps))` (it normalises twice).
The 1e-7 in its denominator is not negligible with random weights: Grad-CAM maps at denseblock4 have ranges of about
1e-4 to 1e-3, where it moves normalised values by up to ~1e-3, so sslxai's exact `normalize` is not the comparison.
Grad-CAM++ divides by 2G^2 + sum(A) G^3 + 1e-6. With random weights the gradients are tiny and that eps dominates,
so it is also compared on the same network with the classifier weights scaled by 1000 ("large gradients").

OMP_WAIT_POLICY: on a loaded machine, OpenMP threads that spin-wait make PyTorch's CPU kernels 10-50x slower and
wildly noisy. The script sets OMP_WAIT_POLICY=PASSIVE unless it is already set, and records the value.
"""
import os
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')       # must happen before torch is imported
import argparse, datetime, importlib.metadata, json, platform, statistics, time, warnings
from pathlib import Path

warnings.filterwarnings('ignore')
import torch, torchvision
import pytorch_grad_cam as pgc
import captum
from captum.attr import LayerGradCam
import sslxai
from sslxai.gradcam import GradCAM, HiResCAM, LayerCAM, GradCAMPlusPlus, upsample

PAIRS = {'GradCAM': (GradCAM, pgc.GradCAM), 'HiResCAM': (HiResCAM, pgc.HiResCAM), 'LayerCAM': (LayerCAM, pgc.LayerCAM),
         'GradCAMPlusPlus': (GradCAMPlusPlus, pgc.GradCAMPlusPlus)}

def pgc_norm(m):
    "pytorch-grad-cam's `scale_cam_image` without resizing."
    m = m - m.amin((-2, -1), keepdim=True)
    return m/(1e-7 + m.amax((-2, -1), keepdim=True))

def pgc_layer_res(cls, model, layer, hw):
    "A pytorch-grad-cam method whose output size is the layer's own (`hw`), so its resize is the identity."
    class AtLayer(cls):
        def get_target_width_height(self, input_tensor): return hw[1], hw[0]
    return AtLayer(model, [layer])

def timeit(f):
    "Wall-clock and process CPU seconds (all threads) of one call."
    w0, c0 = time.perf_counter(), time.process_time(); f()
    return time.perf_counter() - w0, time.process_time() - c0

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--bs', type=int, default=64)
    ap.add_argument('--size', type=int, default=96)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--quick', action='store_true', help='batch 8, one round (smoke test)')
    ap.add_argument('--out', default=str(Path(__file__).parent/'results'))
    a = ap.parse_args()
    if a.quick: a.bs, a.rounds = 8, 1

    torch.manual_seed(0)
    model = torchvision.models.densenet169(num_classes=2).eval()
    x = torch.randn(a.bs, 3, a.size, a.size)
    with torch.no_grad(): preds = model(x).argmax(1)
    layers = ['features.denseblock4', 'features.denseblock3']
    meta = dict(date=datetime.datetime.now().isoformat(timespec='seconds'), machine=platform.platform(),
                processor=platform.processor() or platform.machine(), cpus=os.cpu_count(), torch_threads=torch.get_num_threads(),
                omp_wait_policy=os.environ.get('OMP_WAIT_POLICY'), loadavg_start=os.getloadavg(),
                torch=torch.__version__, torchvision=torchvision.__version__, grad_cam=importlib.metadata.version('grad-cam'),
                captum=captum.__version__, sslxai=sslxai.__version__, model='densenet169 (random weights, 2 classes)',
                batch=a.bs, size=a.size, rounds=a.rounds, device='cpu')
    print(f"{meta['date']}  {meta['machine']}  {meta['cpus']} CPUs, torch threads {meta['torch_threads']}, "
          f"OMP_WAIT_POLICY={meta['omp_wait_policy']}, load {meta['loadavg_start']}")

    # ---- agreement ------------------------------------------------------------------------------------------------
    agreement = []
    big = torchvision.models.densenet169(num_classes=2).eval()
    big.load_state_dict(model.state_dict())
    with torch.no_grad(): big.classifier.weight.mul_(1000.)
    for lname in layers:
        for name, (ours_cls, pgc_cls) in PAIRS.items():
            for mdl, which in ([(model, 'random'), (big, 'large gradients')] if name == 'GradCAMPlusPlus' else [(model, 'random')]):
                layer = mdl.get_submodule(lname)
                with ours_cls(mdl, layer) as cam: ours = cam(x)
                with pgc_cls(mdl, [layer]) as c: theirs = torch.from_numpy(c(x, None))
                hw = tuple(ours.shape[-2:])
                with pgc_layer_res(pgc_cls, mdl, layer, hw) as c: theirs_l = torch.from_numpy(c(x, None))
                r = dict(layer=lname, method=name, model=which, map=f"{hw[0]}x{hw[1]}",
                         diff_input=(pgc_norm(upsample(pgc_norm(ours), a.size)) - theirs).abs().max().item(),
                         diff_layer=(pgc_norm(pgc_norm(ours)) - theirs_l).abs().max().item(),
                         map_range=(ours.amax((1, 2)) - ours.amin((1, 2))).median().item())
                agreement.append(r)
                print(f"agree {lname:21s} {name:16s} {which:16s} {r['map']}: max|diff| input-res {r['diff_input']:.2e}, "
                      f"layer-res {r['diff_layer']:.2e}  (median map range {r['map_range']:.1e})")
        # captum's LayerGradCam is Grad-CAM before normalisation: compare raw maps
        with GradCAM(model, lname) as cam: ours = cam(x, preds)
        cap = LayerGradCam(model, model.get_submodule(lname)).attribute(x, target=preds, relu_attributions=True)[:, 0].detach()
        r = dict(layer=lname, method='GradCAM vs captum (raw maps)', model='random', map=f"{ours.shape[-2]}x{ours.shape[-1]}",
                 diff_input=None, diff_layer=(ours - cap).abs().max().item(), map_range=(ours.amax((1, 2)) - ours.amin((1, 2))).median().item())
        agreement.append(r)
        print(f"agree {lname:21s} GradCAM vs captum raw maps: max|diff| {r['diff_layer']:.2e} (median map range {r['map_range']:.1e})")

    # ---- timing ---------------------------------------------------------------------------------------------------
    def forward():
        with torch.no_grad(): model(x)
    def run_ours(cls, lname, targets=None):
        def f():
            with cls(model, lname) as cam: cam(x, targets)
        return f
    def run_pgc(lname):
        def f():
            with pgc.GradCAM(model, [model.get_submodule(lname)]) as c: c(x, None)
        return f
    def run_captum(lname, given=False):
        lgc = LayerGradCam(model, model.get_submodule(lname))
        def f():
            if given: t = preds
            else:
                with torch.no_grad(): t = model(x).argmax(1)
            lgc.attribute(x, target=t, relu_attributions=True)
        return f
    jobs = {('-', 'forward (no_grad)'): forward}
    for lname in layers:
        jobs[(lname, 'sslxai GradCAM')] = run_ours(GradCAM, lname)
        jobs[(lname, 'sslxai HiResCAM')] = run_ours(HiResCAM, lname)
        jobs[(lname, 'sslxai GradCAM, given targets')] = run_ours(GradCAM, lname, preds)
        jobs[(lname, 'pytorch-grad-cam GradCAM')] = run_pgc(lname)
        jobs[(lname, 'captum LayerGradCam')] = run_captum(lname)
        jobs[(lname, 'captum LayerGradCam, given targets')] = run_captum(lname, True)
    forward(); run_ours(GradCAM, layers[0])()                          # warm-up (oneDNN primitive caches)
    times, cpus = {k: [] for k in jobs}, {k: [] for k in jobs}
    for rnd in range(a.rounds):
        for k, f in jobs.items():
            w, c = timeit(f); times[k].append(w); cpus[k].append(c)
            if rnd == a.rounds - 1:
                print(f"time  {k[0]:21s} {k[1]:36s} wall best {min(times[k]):7.3f}s median {statistics.median(times[k]):7.3f}s"
                      f"  | CPU best {min(cpus[k]):7.3f}s median {statistics.median(cpus[k]):7.3f}s")
    fwd, fwd_cpu = min(times[('-', 'forward (no_grad)')]), min(cpus[('-', 'forward (no_grad)')])
    timing = [dict(layer=l, what=w, best_s=min(ts), median_s=statistics.median(ts), spread=max(ts)/min(ts), x_forward=min(ts)/fwd,
                   cpu_best_s=min(cpus[(l, w)]), cpu_median_s=statistics.median(cpus[(l, w)]), cpu_x_forward=min(cpus[(l, w)])/fwd_cpu)
              for (l, w), ts in times.items()]
    summary = {}
    for lname in layers:
        for tag, T, f0 in (('wall', times, fwd), ('cpu', cpus, fwd_cpu)):
            b = lambda w: min(T[(lname, w)])
            summary.setdefault(lname, {})[tag] = dict(
                gradcam_over_forward=b('sslxai GradCAM')/f0,
                speedup_vs_pytorch_grad_cam=b('pytorch-grad-cam GradCAM')/b('sslxai GradCAM'),
                speedup_vs_captum=b('captum LayerGradCam')/b('sslxai GradCAM'),
                speedup_vs_captum_given_targets=b('captum LayerGradCam, given targets')/b('sslxai GradCAM, given targets'))
    diffs = [r['diff_input'] for r in agreement if r['method'] in ('GradCAM', 'HiResCAM', 'LayerCAM')] + \
            [r['diff_input'] for r in agreement if r['method'] == 'GradCAMPlusPlus' and r['model'] == 'large gradients']
    checks = {}
    for tag in ('wall', 'cpu'):
        S = [s[tag] for s in summary.values()]
        checks[tag] = dict(faster_3x_than_pytorch_grad_cam=all(s['speedup_vs_pytorch_grad_cam'] >= 3 for s in S),
                          at_least_captum=all(s['speedup_vs_captum'] >= 1 for s in S),
                          at_least_captum_given_targets=all(s['speedup_vs_captum_given_targets'] >= 1 for s in S),
                          gradcam_at_most_1_3x_forward=all(s['gradcam_over_forward'] <= 1.3 for s in S))
    checks['maps_within_2e_3'] = max(diffs) <= 2e-3
    meta['loadavg_end'] = os.getloadavg()
    print()
    for lname, ss in summary.items():
        for tag, s in ss.items():
            print(f"{lname} ({tag:4s}): Grad-CAM = {s['gradcam_over_forward']:.2f}x forward; {s['speedup_vs_pytorch_grad_cam']:.1f}x faster than "
                  f"pytorch-grad-cam; {s['speedup_vs_captum']:.2f}x captum ({s['speedup_vs_captum_given_targets']:.2f}x with given targets)")
    print(f"largest |diff| of normalised maps vs pytorch-grad-cam (GradCAM, HiResCAM, LayerCAM; Grad-CAM++ large grads): {max(diffs):.2e}")
    print('checks:', checks)

    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    name = 'gradcam_quick' if a.quick else 'gradcam'
    (out/f'{name}.json').write_text(json.dumps(dict(meta=meta, summary=summary, checks=checks, timing=timing, agreement=agreement), indent=1))
    md = [f"# Grad-CAM benchmark ({meta['date']})", '',
          f"{meta['model']}, batch {a.bs} at {a.size}x{a.size}, CPU: {meta['machine']}, {meta['cpus']} CPUs, torch threads "
          f"{meta['torch_threads']}, OMP_WAIT_POLICY={meta['omp_wait_policy']}, load average {meta['loadavg_start'][0]:.1f} -> "
          f"{meta['loadavg_end'][0]:.1f} (shared machine). torch {meta['torch']}, grad-cam {meta['grad_cam']}, captum {meta['captum']}. "
          f"Best of {a.rounds} interleaved rounds.", '',
          'Wall: wall-clock seconds. CPU: process CPU seconds over all threads, less sensitive to the load of other processes.', '',
          '| layer | what | wall best s | wall median s | wall max/min | wall x forward | CPU best s | CPU x forward |',
          '|---|---|---|---|---|---|---|---|']
    md += [f"| {t['layer']} | {t['what']} | {t['best_s']:.3f} | {t['median_s']:.3f} | {t['spread']:.2f} | {t['x_forward']:.2f} | "
           f"{t['cpu_best_s']:.3f} | {t['cpu_x_forward']:.2f} |" for t in timing]
    md += ['', '| layer | clock | Grad-CAM / forward | vs pytorch-grad-cam | vs captum | vs captum (given targets) |', '|---|---|---|---|---|---|']
    md += [f"| {l} | {tag} | {s['gradcam_over_forward']:.2f}x | {s['speedup_vs_pytorch_grad_cam']:.1f}x faster | {s['speedup_vs_captum']:.2f}x | "
           f"{s['speedup_vs_captum_given_targets']:.2f}x |" for l, ss in summary.items() for tag, s in ss.items()]
    md += ['', 'Max abs difference of normalised maps vs pytorch-grad-cam (input resolution: its exact pipeline; layer resolution: '
           'its resize disabled); the captum row compares raw maps.', '',
           '| layer | method | model | map | input res | layer res | median map range |', '|---|---|---|---|---|---|---|']
    fmt = lambda v: '-' if v is None else f"{v:.1e}"
    md += [f"| {r['layer']} | {r['method']} | {r['model']} | {r['map']} | {fmt(r['diff_input'])} | {fmt(r['diff_layer'])} | {r['map_range']:.1e} |"
           for r in agreement]
    md += ['', f"Maps within 2e-3: {'yes' if checks['maps_within_2e_3'] else 'no'}."]
    md += [f"Speed checks ({tag}): " + ', '.join(f"{k}: {'yes' if v else 'no'}" for k, v in checks[tag].items()) for tag in ('wall', 'cpu')]
    md += ['']
    (out/f'{name}.md').write_text('\n'.join(md))
    print(f"wrote {out/name}.json and .md")

if __name__ == '__main__': main()
