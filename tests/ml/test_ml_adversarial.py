"""The attack suite's attacks and the tamper signal, on a small seeded network (no data, no encoder)."""
import numpy as np
import torch

from ml.evaluation import attacks as A
from ml.evaluation.attack_table import markdown
from ml.inference import tamper


def small_net():
    """A network that, like a detector, reads fine texture: a 3x3 high-pass conv, then a linear read-out."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(4),
                              torch.nn.Flatten(), torch.nn.Linear(128, 1))
    return net.eval().requires_grad_(False)


def smooth_crops(n=3, size=64, seed=0):
    """Natural-looking crops: smooth gradients and blobs (no pixel-level texture)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = []
    for _ in range(n):
        a, b, c = rng.uniform(0.2, 0.8, 3)
        img = np.stack([a + 0.2 * np.sin(3 * xx + b), b + 0.2 * np.cos(2 * yy + c), c + 0.1 * xx * yy], -1)
        out.append((np.clip(img, 0, 1) * 255).astype(np.uint8))
    return np.stack(out)


def logits(net):
    return lambda pixels: net(pixels).squeeze(-1)


def test_pgd_stays_in_the_ball_and_lowers_the_logit_more_than_noise():
    net = small_net()
    x = A.to_pixels(smooth_crops())
    eps = 4 / 255
    adv = A.pgd(logits(net), x, eps, steps=8)
    assert (adv - x).abs().max() <= eps + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    noise = (x + (torch.rand(x.shape, generator=torch.Generator().manual_seed(1)) * 2 - 1) * eps).clamp(0, 1)
    with torch.no_grad():
        clean, attacked, noisy = (logits(net)(v) for v in (x, adv, noise))
    assert (attacked < clean - 0.01).all()
    assert (clean - attacked).mean() > 5 * (clean - noisy).abs().mean()


def test_eot_and_bpda_give_gradients_through_jpeg_and_h264():
    net = small_net()
    x = A.to_pixels(smooth_crops(2))
    for draw in (A.purify_draw, A.tamper_draw):
        adv = A.pgd(logits(net), x, 4 / 255, steps=3, eot=2, draw=draw)
        assert (adv - x).abs().max() <= 4 / 255 + 1e-6 and not torch.equal(adv, x)
    y = A.t_h264(23)(x.clone().requires_grad_(True))
    assert y.shape == x.shape and y.requires_grad


def test_square_attack_lowers_a_rounded_score_within_its_budget():
    net = small_net()
    x = A.to_pixels(smooth_crops(2))

    def query(pixels):
        with torch.no_grad():
            return torch.sigmoid(logits(net)(pixels)).numpy().astype(float)
    before = query(x)
    adv, used = A.square(query, x, 8 / 255, queries=60, decimals=3, stop_below=-1.0)
    assert (adv - x).abs().max() <= 8 / 255 + 1e-6
    assert (used == 61).all()  # never below -1: every query spent, recorded as budget + 1
    assert (query(adv) <= before + 1e-3).all() and (query(adv) < before).any()


def test_tamper_fires_on_a_perturbed_crop_and_not_on_clean_ones():
    net = small_net()
    crops = smooth_crops(6)

    def score(c):
        with torch.no_grad():
            return logits(net)(A.to_pixels(c)).numpy()
    clean_rises = [tamper.rise(score, c[None])[0] for c in crops]
    adv = A.to_uint8(A.pgd(logits(net), A.to_pixels(crops), 8 / 255, steps=10))
    adv_rises = [tamper.rise(score, c[None])[0] for c in adv]
    check = tamper.TamperCheck(threshold=max(clean_rises) + 1e-6, crops=1)
    assert not any(check.check(score, c[None], score(c[None]))["fired"] for c in crops)
    fired = [check.check(score, c[None], score(c[None]))["fired"] for c in adv]
    assert sum(fired) >= 5 and min(adv_rises) > np.median(clean_rises)


def test_tamper_reads_the_lowest_scoring_crops_and_its_changes_keep_shape():
    assert list(tamper.decisive(np.array([0.5, -2.0, 1.0, -1.0]), 2)) == [1, 3]
    crop = smooth_crops(1)[0]
    for name, change in tamper.CHANGES.items():
        out = change(crop)
        assert out.shape == crop.shape and out.dtype == np.uint8, name
    assert np.array_equal(tamper.shift(crop, 1, 1)[1:, 1:], crop[:-1, :-1])
    assert np.array_equal(tamper.shift(crop, -8, 0)[:, :-8], crop[:, 8:])
    assert np.array_equal(tamper.mirror(tamper.mirror(crop)), crop)


def test_the_table_counts_before_and_after_the_tamper_check():
    rows = [{"attack": "clean", "eps": 0, "path": "a", "method": "m", "set": "image"},
            {"attack": "pgd", "eps": 2, "path": "a", "method": "m", "authentic": True, "fired": True,
             "success_after": False, "seconds": 3},
            {"attack": "pgd", "eps": 2, "path": "b", "method": "m", "authentic": True, "fired": False,
             "success_after": True, "seconds": 5}]
    table = markdown(rows, "x")
    assert "| 2 | 2 | 2/2 (100%) | 1/2 (50%) | 1/2 |" in table


def test_the_tamper_aware_attack_stays_in_the_ball_and_lowers_the_changed_copies_too():
    net = small_net()
    x = A.to_pixels(smooth_crops(1))
    adv = A.tamper_aware_pgd(logits(net), x, 8 / 255, steps=6)
    assert (adv - x).abs().max() <= 8 / 255 + 1e-6
    with torch.no_grad():
        before = torch.stack([logits(net)(t(x)) for t in A.tamper_changes()]).mean()
        after = torch.stack([logits(net)(t(adv)) for t in A.tamper_changes()]).mean()
    assert after < before
