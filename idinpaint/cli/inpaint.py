"""``idinpaint inpaint``: fill the hole of one image with a trained checkpoint."""
from __future__ import annotations

from idinpaint.cli._common import BLENDS, add_command, add_output_file, check_device, check_inputs, check_outputs


def add_parser(commands) -> None:
    p = add_command(commands, "inpaint", _cmd_inpaint, "fill the hole of one image with a trained checkpoint")
    p.add_argument("--checkpoint", required=True, help="last.ckpt / best.ckpt / inpainter.pt of a training run")
    p.add_argument("--image", required=True)
    p.add_argument("--mask", required=True, help="single-channel PNG, 255 = hole")
    add_output_file(p, help="the image to write (.png, .jpg, ...; default results/inpaint/<image stem>_<filler>.png, "
                            "the filler being ca or ca_id, the checkpoint's kind)")
    p.add_argument("--blend", choices=BLENDS, default="alpha", metavar="BLEND",
                   help="how the fill is blended into the hole: %(choices)s (default alpha, chosen on held-out "
                        "crops; poisson = Poisson image editing, solved exactly)")
    p.add_argument("--device", default=None, help="cpu / cuda (default: cuda when available)")
    p.add_argument("--backend", choices=("torch", "onnx", "auto"), default=None, metavar="BACKEND",
                   help="what runs the networks: %(choices)s (onnx = onnxruntime on the CPU, the graphs exported "
                        "on first use; auto = the one measured fastest on the device; default $IDINPAINT_BACKEND, "
                        "else torch)")


def _cmd_inpaint(args) -> int:
    """Fill the hole (mask PNG, 255 = hole, same size as the image) with a ca or ca_id checkpoint.
    A photo that is not a 112x112 aligned crop is aligned first (YuNet) and the fill is warped back
    into the photo; a 112x112 image must show a face. An all-zero mask writes the image unchanged; a
    hole over 90 % of the image is refused; a gray photo gets a gray result."""
    check_inputs(args, "--image", "--mask", "--checkpoint")
    check_outputs(args, output_file="image")
    check_device(args.device)
    from idinpaint.inpaint import inpaint_file
    from idinpaint.paths import results_dir

    info = inpaint_file(args.checkpoint, args.image, args.mask, args.output_file, blend_method=args.blend,
                        device=args.device, backend=args.backend, output_dir=None if args.output_file else
                        results_dir() / "inpaint")
    if info.get("nothing_to_fill"):
        print(f"{args.mask}: nothing to fill (the mask has no 255 pixels); wrote the input unchanged to "
              f"{info['output']}")
        return 0
    notes = [", aligned first"] if info.get("aligned") else []
    if info.get("uncovered"):
        notes.append(f"; {info['uncovered']} hole pixels outside the face crop left as they were")
    notes += [f"; {note}" for note in info.get("notes", [])]
    print(f"wrote {info['output']} ({info['kind']}{''.join(notes)})")
    return 0
