"""The lab's network on the "linear" set: 100 random points in the unit square,
labelled 1 above the diagonal (y > x). Same network and training as examples/xor.py.

    python examples/linear.py [--lr 0.5] [--hidden 50] [--activation sigmoid] [--seed 0] [--out out]
"""

from xor import parse_args, report, train  # the same network, loop and report as the XOR example

import microgradnp as mg


def main():
    args = parse_args(__doc__.splitlines()[0], lr=0.5)
    X, y = mg.data.make_linear(100, rng=args.seed)
    print(f"linear set: {len(X)} points; network 2-{args.hidden}-{args.hidden}-1, {args.activation}, "
          f"MSE, SGD lr {args.lr}\n")
    model, history = train(X, y, args)
    report(model, X, y, history, args.out, "linear")


if __name__ == "__main__":
    main()
