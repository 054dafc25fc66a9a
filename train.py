"""Train a Soft-Attention skin-lesion model and write a self-describing bundle.

Example (the paper's recipe on the shared HAM10000 copy, CPU-friendly native resolution):
    python train.py --backbone MobileNetV3Small --input-size 150 200 --out weights/mobilenetv3small
"""

import argparse
import sys
from dataclasses import fields

from skin_core.backbones import BACKBONES


def parse_args(argv=None):
    from skin_core.research.training import TrainConfig

    defaults = TrainConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backbone", default=defaults.backbone, choices=sorted(BACKBONES))
    parser.add_argument("--data", default=defaults.data, help="HAM10000-format folder (default: ../shared copy)")
    parser.add_argument("--extra-train", nargs="+", default=[], metavar="FOLDER",
                        help="HAM10000-format folders of other cameras' photos added to training only "
                             "(e.g. ../shared/data/external/isic2017_train)")
    parser.add_argument("--out", default=None, help="bundle folder (default: weights/<backbone>)")
    parser.add_argument("--input-size", type=int, nargs="+", default=None, metavar="PX",
                        help="one size (square) or height width; default: the backbone's own")
    parser.add_argument("--head-epochs", type=int, default=defaults.head_epochs,
                        help="stage 1: epochs training the new head on the frozen backbone")
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help="stage 2: fine-tuning epochs")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--weights", default=defaults.weights,
                        help='"shared" (../shared/pretrained), "imagenet" (download), "none" or a file path')
    parser.add_argument("--no-metadata", dest="metadata", action="store_false", help="ablation: image only")
    parser.add_argument("--no-soft-attention", dest="soft_attention", action="store_false",
                        help="ablation: no Soft-Attention branch")
    parser.add_argument("--unweighted-loss", dest="weighted_loss", action="store_false",
                        help="ablation: plain cross-entropy")
    parser.add_argument("--no-colour-constancy", dest="colour_constancy", action="store_false",
                        help="ablation: no Shades-of-Gray layer in the model")
    parser.add_argument("--no-photometric", dest="photometric", action="store_false",
                        help="ablation: geometric augmentation only (the paper's)")
    parser.add_argument("--crop-area", type=float, nargs=2, default=list(defaults.crop_area), metavar=("LOW", "HIGH"),
                        help="share of the photo a random resized crop keeps (1 1: no crops)")
    parser.add_argument("--zoom-out", type=float, default=defaults.zoom_out, metavar="SCALE",
                        help="show half the photos from further away, shrunk to between SCALE of the frame's side "
                             "and 1 on their own skin colour (1: never)")
    parser.add_argument("--trainable-from", default=None,
                        help="first backbone layer to fine-tune (default: all; 'none' freezes the backbone)")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="stage 1 (default: the backbone's, 1e-3 as in the paper or 1e-4 for EfficientNet-Lite)")
    parser.add_argument("--fine-tune-learning-rate", type=float, default=defaults.fine_tune_learning_rate)
    parser.add_argument("--adam-epsilon", type=float, default=None,
                        help="default: the backbone's (the paper's 0.1; 1e-7 for MobileNetV2 and EfficientNet-Lite)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--split", default=None, help="reuse this split.csv (e.g. another bundle's)")
    parser.add_argument("--early-stopping-patience", type=int, default=defaults.early_stopping_patience)
    parser.add_argument("--mixed-precision", action=argparse.BooleanOptionalAction, default=None,
                        help="bfloat16 (or float16) compute (default: on when a GPU is present)")
    parser.add_argument("--xla", action="store_true",
                        help="TensorFlow: compile the training step with XLA (JAX always compiles it)")
    parser.add_argument("--devices", nargs="+", default=None,
                        help="data parallelism over these devices (TensorFlow: /gpu:0 /gpu:1; JAX: gpu:0 gpu:1)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    parser.add_argument("--init-from", default=None,
                        help="start from this bundle's trained weights (same backbone, size and branches)")
    parser.add_argument("--exposure-margin", action=argparse.BooleanOptionalAction, default=defaults.exposure_margin,
                        help="the malignancy threshold also holds on the validation photos 15 %% darker and paler")
    parser.add_argument("--research", action="store_true",
                        help="a comparison run: the bundle is never offered for diagnosis, whatever its recipe")
    parser.add_argument("--display-name", default="",
                        help="what a doctor reads in the model list (default: the backbone's name)")
    parser.add_argument("--max-steps-per-epoch", type=int, default=None, help="cap steps (quick checks)")
    parser.add_argument("--time-budget-minutes", type=float, default=None,
                        help="stop after the epoch that passes this wall time (the best epoch is kept)")
    args = parser.parse_args(argv)

    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    values["out"] = args.out or f"weights/{args.backbone.lower()}"
    values["weights"] = None if args.weights == "none" else args.weights
    trainable = args.trainable_from
    values["backbone_trainable"] = True if trainable is None else False if trainable == "none" else trainable
    if args.input_size is not None and len(args.input_size) not in (1, 2):
        parser.error("--input-size takes one value or two (height width)")
    values["input_size"] = None if args.input_size is None else (args.input_size * 2)[:2]
    if not 0 < args.zoom_out <= 1:
        parser.error(f"--zoom-out must be in (0, 1] (the smallest share of the frame's side), got {args.zoom_out:g}")
    values["crop_area"] = tuple(args.crop_area)
    values["extra_train"] = tuple(args.extra_train)
    return TrainConfig(**values)


def main(argv=None) -> int:
    config = parse_args(argv)
    from skin_core.research.training import train

    try:
        bundle = train(config)
    except (FileNotFoundError, FileExistsError, ValueError) as error:  # bad data, paths or settings
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Bundle written to {bundle}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
