"""Multi-device training is real: two smoke-profile training steps per stage under Lightning DDP on
the CPU (2 processes, gloo), and both ranks end with the same weights.

The run is a script of its own (Lightning's ``ddp`` strategies start rank 1 by running the same
command again, as they do for ``idinpaint train``); a callback added to every stage's trainer writes
each rank's world size, the hashes of its batches and digests of its module's weights when the
stage ends. The ranks train on different batches (Lightning's distributed sampler), so equal
weights mean the gradients were all-reduced, not that the ranks did the same work.

The strategy is ``ddp_find_unused_parameters_true`` (what config/train.yaml names for multi-GPU):
plain ``ddp`` stops at the first discriminator step ("parameters that were not used in producing
the loss") because each training step makes two backward passes over different parameter sets.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
BN_STATISTICS = ("running_mean", "running_var", "num_batches_tracked")

SCRIPT = textwrap.dedent('''
    """Two DDP ranks on the CPU: two training steps per smoke stage, each rank's weights digested."""
    import hashlib, json, sys
    from pathlib import Path

    import numpy as np
    import pytorch_lightning as pl

    from idinpaint.imageio import write_rgb
    from idinpaint.training import stages

    work = Path(sys.argv[1])
    faces = work / "faces"
    rng = np.random.default_rng(0)
    for p in range(8):  # synthetic "people": a blocky colour pattern each, a few noisy photos
        base = rng.normal(128, 30, size=(14, 14, 3))
        for i in range(3):
            image = np.clip(base + rng.normal(0, 10, size=base.shape), 0, 255).repeat(8, 0).repeat(8, 1)
            path = faces / f"P{p}" / f"P{p}_{i + 1:04d}.png"
            if not path.is_file():  # rank 0 wrote them already
                write_rgb(path, image.astype(np.uint8))

    def digest(items):
        total, each = hashlib.sha256(), {}
        for name, tensor in sorted(items):
            data = name.encode() + tensor.detach().cpu().contiguous().numpy().tobytes()
            total.update(data)
            each[name] = hashlib.sha256(data).hexdigest()[:16]
        return total.hexdigest(), each

    class Digest(pl.Callback):
        def __init__(self, stage):
            self.stage, self.batches = stage, []

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            self.batches.append(hashlib.sha256(batch["image"].cpu().numpy().tobytes()).hexdigest()[:16])

        def on_train_end(self, trainer, module):
            params, _ = digest(module.named_parameters())
            state, tensors = digest(module.state_dict().items())
            record = {"rank": trainer.global_rank, "world_size": trainer.world_size,
                      "strategy": type(trainer.strategy).__name__, "steps": trainer.global_step,
                      "backend": trainer.strategy.process_group_backend, "parameters": params, "state": state,
                      "tensors": tensors, "batches": self.batches}
            (work / f"{self.stage}_rank{trainer.global_rank}.json").write_text(json.dumps(record))

    build = stages.build_trainer

    def build_trainer(config, stage, stage_dir, run_dir, optimizers, *args, **kwargs):
        trainer, best, speed = build(config, stage, stage_dir, run_dir, optimizers, *args, **kwargs)
        trainer.callbacks.append(Digest(stage["name"]))
        return trainer, best, speed

    stages.build_trainer = build_trainer
    overrides = {
        "trainer": {"accelerator": "cpu", "devices": 2, "strategy": sys.argv[2], "num_nodes": 1,
                    "val_every_n_steps": None, "limit_val_batches": 1},
        "data": {"dataset": "folder", "root": str(faces), "limit": None, "val_images": 4, "batch_size": 2,
                 "val_batch_size": 2},
        "masks": {"mix": [["random_part", 1.0], ["random_block:24-64", 1.0], ["free_form", 1.0]]},
        "stages": [{"name": "ca", "model": "ca", "steps": 2},
                   {"name": "fusor", "model": "fusor", "steps": 2, "id_weight": 5}],
    }
    summary = stages.run_training(profile="smoke", output=work / "run", overrides=overrides, log=lambda *_: None)
    if summary["status"] != "done":
        raise SystemExit(f"training failed: {summary.get('error')}")
''')


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["ddp_find_unused_parameters_true"])
def test_two_ddp_ranks_end_with_the_same_weights(tmp_path, strategy):
    script = tmp_path / "ddp_run.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    env.pop("LOCAL_RANK", None)
    done = subprocess.run([sys.executable, str(script), str(tmp_path), strategy], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"DDP run failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    for stage in ("ca", "fusor"):
        ranks = [json.loads((tmp_path / f"{stage}_rank{r}.json").read_text()) for r in (0, 1)]
        assert [r["rank"] for r in ranks] == [0, 1]
        assert all(r["world_size"] == 2 and r["backend"] == "gloo" for r in ranks), ranks
        assert all(r["strategy"] == "DDPStrategy" for r in ranks), ranks
        assert ranks[0]["steps"] == ranks[1]["steps"] > 0
        assert len(ranks[0]["batches"]) == 2 and not set(ranks[0]["batches"]) & set(ranks[1]["batches"]), \
            "the ranks should train on different batches (distributed sampler)"
        assert ranks[0]["parameters"] == ranks[1]["parameters"], f"{stage}: the ranks' weights differ after training"
        # BatchNorm running statistics (the Fusor's attribute encoder) are each rank's own: DDP broadcasts
        # rank 0's at every forward and rank 0 saves; SyncBatchNorm (trainer.sync_batchnorm) is GPU-only
        differ = {name for name in ranks[0]["tensors"] if ranks[0]["tensors"][name] != ranks[1]["tensors"][name]}
        assert all(name.endswith(BN_STATISTICS) for name in differ), sorted(differ)
        if stage == "ca":
            assert not differ  # no BatchNorm in the CA or the discriminator
    # what rank 0 saved is what it held
    saved = torch.load(tmp_path / "run" / "fusor" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    digest = hashlib.sha256()
    for name, tensor in sorted(saved.items()):
        digest.update(name.encode() + tensor.contiguous().numpy().tobytes())
    assert digest.hexdigest() == ranks[0]["state"]
    stage = json.loads((tmp_path / "run" / "fusor" / "stage.json").read_text())
    assert stage["status"] == "done" and stage["batches"] == 2
