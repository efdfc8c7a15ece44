"""A model written as a PyTorch user writes one, on microgradnp.

    python examples/pytorch_style.py

Part 1, a character-level language model: Embedding -> a ModuleList of residual blocks
(LayerNorm, Linear, GELU) -> Linear, trained with AdamW, gradient clipping
(``nn.utils.clip_grad_norm_``) and a OneCycleLR schedule; half way through, the model and
the optimizer are saved, loaded into fresh objects, and training resumes from there with
exactly the numbers an uninterrupted run gives.

Part 2, an image classifier: Conv2d -> ReLU -> MaxPool2d -> Conv2d -> ReLU -> AvgPool2d ->
Linear on 12x12 images of horizontal vs vertical vs diagonal strokes, with BatchNorm1d and
a MultiStepLR schedule.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

import microgradnp as mg
from microgradnp import nn, optim
from microgradnp.nn import functional as F

TEXT = ("backpropagation applies the chain rule from the loss back to every weight: "
        "each node receives the gradient of the loss with respect to its output and "
        "sends on the gradients with respect to its inputs. ") * 4


# -- part 1: characters -------------------------------------------------------------------
class Block(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc = nn.Linear(width, width)

    def forward(self, x):
        return x + F.gelu(self.fc(self.norm(x)))


class CharModel(nn.Module):
    def __init__(self, vocabulary: int, context: int, width: int = 32, depth: int = 2):
        super().__init__()
        self.embed = nn.Embedding(vocabulary, width)
        self.blocks = nn.ModuleList([Block(context * width) for _ in range(depth)])
        self.head = nn.Linear(context * width, vocabulary)

    def forward(self, idx):
        x = self.embed(idx).flatten(start_dim=1)  # (batch, context * width)
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def char_batches(context: int):
    chars = sorted(set(TEXT))
    codes = np.array([chars.index(c) for c in TEXT])
    windows = np.lib.stride_tricks.sliding_window_view(codes, context + 1)
    return chars, windows[:, :-1], windows[:, -1]


def train_chars(model, optimizer, scheduler, X, y, steps, batch: int = 64, seed: int = 0, start: int = 0):
    rng = np.random.default_rng(seed)
    order = [rng.integers(0, len(X), batch) for _ in range(start + steps)][start:]
    losses = []
    for rows in order:
        logits = model(mg.from_numpy(X[rows]))
        loss = F.cross_entropy(logits, y[rows])
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    return losses


def characters() -> None:
    context, steps = 8, 200
    chars, X, y = char_batches(context)
    mg.manual_seed(0)

    def fresh():
        mg.manual_seed(0)
        model = CharModel(len(chars), context)
        optimizer = optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
        scheduler = optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-2, total_steps=steps)
        return model, optimizer, scheduler

    model, optimizer, scheduler = fresh()
    uninterrupted = train_chars(model, optimizer, scheduler, X, y, steps)

    model, optimizer, scheduler = fresh()
    first_half = train_chars(model, optimizer, scheduler, X, y, steps // 2)
    with tempfile.TemporaryDirectory() as folder:
        nn.save(model.state_dict(), Path(folder) / "model.npz")
        nn.save(optimizer.state_dict(), Path(folder) / "optimizer.npz")
        nn.save(scheduler.state_dict(), Path(folder) / "scheduler.npz")
        model, optimizer, scheduler = fresh()  # a new process would start here
        model.load_state_dict(nn.load(Path(folder) / "model.npz"))
        optimizer.load_state_dict(nn.load(Path(folder) / "optimizer.npz"))
        scheduler.load_state_dict(nn.load(Path(folder) / "scheduler.npz"))
    second_half = train_chars(model, optimizer, scheduler, X, y, steps - steps // 2, start=steps // 2)
    resumed = first_half + second_half
    print(f"characters: {len(chars)} symbols, context {context}, {sum(p.numel() for p in model.parameters())} "
          f"parameters; loss {uninterrupted[0]:.3f} -> {uninterrupted[-1]:.3f} in {steps} steps")
    print(f"  resumed from a checkpoint at step {steps // 2}: the same losses as without the break: "
          f"{resumed == uninterrupted}")
    with mg.no_grad():
        model.eval()
        prompt = TEXT[:context]
        out = prompt
        for _ in range(60):
            idx = np.array([[chars.index(c) for c in out[-context:]]])
            out += chars[int(model(mg.from_numpy(idx)).argmax(dim=-1).item())]
    print(f"  greedy continuation of {prompt!r}: {out[context:]!r}")


# -- part 2: images -----------------------------------------------------------------------
def strokes(n: int, size: int = 12, seed: int = 0):
    """Images with one horizontal (class 0), vertical (1) or diagonal (2) stroke, plus noise."""
    rng = np.random.default_rng(seed)
    images = rng.normal(0, 0.3, (n, 1, size, size))
    labels = rng.integers(0, 3, n)
    for image, label in zip(images, labels):
        at = rng.integers(2, size - 2)
        if label == 0:
            image[0, at, :] += 1.5
        elif label == 1:
            image[0, :, at] += 1.5
        else:
            image[0] += 1.5 * np.eye(size, k=int(at) - size // 2)
    return images, labels


def images() -> None:
    mg.manual_seed(0)
    X, y = strokes(300)
    X_test, y_test = strokes(100, seed=1)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(16 * 3 * 3, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 3),
    )
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scheduler = optim.lr_scheduler.MultiStepLR(optimizer, milestones=[6, 9], gamma=0.3)
    for _ in range(12):
        model.train()
        for start in range(0, len(X), 50):
            loss = F.cross_entropy(model(mg.tensor(X[start:start + 50])), y[start:start + 50])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        scheduler.step()
    model.eval()
    with mg.no_grad():
        accuracy = float((model(mg.tensor(X_test)).argmax(dim=1).numpy() == y_test).mean())
    print(f"images: strokes in 12x12 images, 3 classes; test accuracy {accuracy:.0%} after 12 epochs "
          f"(last lr {scheduler.get_last_lr()[0]:.4f})")


if __name__ == "__main__":
    characters()
    images()
