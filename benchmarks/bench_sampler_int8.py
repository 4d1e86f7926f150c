"""Can the Sampler (the frozen SFace inside CA + ID) run in int8? onnxruntime's dynamic and static
(QDQ, per-channel, calibrated on 64 clean LFW crops of first images) quantization of the fp32 SFace
graph, against the fp32 graph: images/s at batch 64 on 2 intra-op threads (fp32, dynamic and static
interleaved, 3 rounds, median) and the cosine of each embedding with the fp32 one on 64 second
images of fold 1. Ship rule: cosine >= 0.99 on every crop and faster.

    python benchmarks/bench_sampler_int8.py   # -> benchmarks/results/sampler_int8_cpu.json
"""
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import quantize_dynamic, quantize_static, QuantType, CalibrationDataReader, QuantFormat
from idinpaint.recognizers.sface import fp32_onnx_path
from idinpaint.onnx_export import session
from idinpaint.data.lfw import load_pairs, default_aligned_root
from idinpaint.evaluation.protocol import PairSet
from idinpaint.data.aligned import read_faces
root=default_aligned_root()
ps=PairSet.of([p for p in load_pairs() if p.fold==0])
faces=read_faces(root, ps.unique_second[:64]).astype(np.float32).transpose(0,3,1,2)
calib=read_faces(root, ps.first[:64]).astype(np.float32).transpose(0,3,1,2)
src=str(fp32_onnx_path())
m=onnx.load(src); inp=m.graph.input[0].name
out={}
work = Path(tempfile.mkdtemp(prefix="sampler_int8_"))
dyn=str(work / "sface_dynamic.onnx"); quantize_dynamic(src, dyn, weight_type=QuantType.QInt8)
class R(CalibrationDataReader):
    def __init__(s): s.it=iter([{inp: calib[i:i+16]} for i in range(0,64,16)])
    def get_next(s): return next(s.it, None)
st=str(work / "sface_static.onnx"); quantize_static(src, st, R(), quant_format=QuantFormat.QDQ, per_channel=True)
sess={k: session(p, 2) for k,p in {"fp32":src,"dynamic":dyn,"static":st}.items()}
ref=None; times={k:[] for k in sess}; emb={}
for rep in range(3):
    for k,s in sess.items():
        t=time.perf_counter(); e=s.run(None,{inp:faces})[0]; times[k].append(time.perf_counter()-t); emb[k]=e
norm=lambda e: e/np.linalg.norm(e,axis=1,keepdims=True)
for k in sess:
    cos=(norm(emb[k])*norm(emb["fp32"])).sum(1)
    out[k]={"median_s_batch64": statistics.median(times[k]), "images_per_s": 64/statistics.median(times[k]),
            "cos_min": float(cos.min()), "cos_mean": float(cos.mean())}
print(json.dumps(out, indent=1))
out["machine"] = {"cpus": os.cpu_count(), "load_average": os.getloadavg(),
                  "note": "2-core VM shared with a training job and other work"}
target = Path(__file__).resolve().parent / "results" / "sampler_int8_cpu.json"
target.write_text(json.dumps(out, indent=1))
print(f"wrote {target}")
