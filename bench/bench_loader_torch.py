#!/usr/bin/env python3
"""The PyTorch peer of graft-bench-loader: DataLoader + torchvision transforms on the same files.

Same work per image as graft's Transform::train(): decode the JPEG (PIL), resize the shorter
side to 256 (torchvision's default filter, bilinear), random 224x224 crop, random horizontal
flip, then VGG-Face preprocessing (RGB -> BGR, float, minus the B, G, R means), batched
(N, 3, 224, 224) float32 with int64 labels. Workers are persistent and one warm-up epoch runs
first, so that the timed epochs measure steady state, as graft's do.

Prints one line per timed epoch: "images_per_s <float>". Run by bench_loader.cpp; by hand:
  /usr/bin/python3 bench/bench_loader_torch.py --list files.txt --workers 2 --batch 32 --epochs 1
"""
import argparse
import time

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
import torchvision.transforms as T

VGG_FACE_MEAN_BGR = torch.tensor([93.5940, 104.7624, 129.1863]).view(3, 1, 1)


class VggFace:
    def __call__(self, x):  # x: uint8 (3, H, W) RGB
        return x.flip(0).float() - VGG_FACE_MEAN_BGR


class Files(Dataset):
    def __init__(self, paths, transform):
        self.paths, self.transform = paths, transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        with Image.open(self.paths[i]) as im:
            img = im.convert("RGB")
        return self.transform(img), i % 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--list", required=True, help="text file, one image path per line")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=1, help="timed epochs (after one warm-up)")
    ap.add_argument("--resize", type=int, default=256)
    ap.add_argument("--crop", type=int, default=224)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(1)
    paths = [l.rstrip("\n") for l in open(a.list) if l.strip()]
    tf = T.Compose([T.Resize(a.resize), T.RandomCrop(a.crop), T.RandomHorizontalFlip(),
                    T.PILToTensor(), VggFace()])
    loader = DataLoader(Files(paths, tf), batch_size=a.batch, shuffle=True, num_workers=a.workers,
                        persistent_workers=a.workers > 0, drop_last=False)
    for epoch in range(a.epochs + 1):
        t0 = time.perf_counter()
        n = 0
        for images, labels in loader:
            assert images.shape[1:] == (3, a.crop, a.crop) and images.dtype == torch.float32
            n += images.shape[0]
        dt = time.perf_counter() - t0
        if epoch > 0:
            print(f"images_per_s {n / dt:.1f}", flush=True)


if __name__ == "__main__":
    main()
