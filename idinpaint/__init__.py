"""idinpaint — a workbook that reproduces, corrects and extends ID-Inpainter.

Data flows through the package in one direction, one module per stage::

    raw photos --align--> 112x112 crops --occlusion--> occluded (+mask, 1 = hole)
      --fillers--> inpainted --recognizers--> embeddings --evaluation--> scores --figures--> PNG/PDF

Conventions used everywhere (so no stage has to guess):
  * images in memory are RGB ``uint8`` arrays shaped (H, W, 3) (batches (N, H, W, 3));
  * masks are ``bool`` (or 0/1 ``uint8``) arrays shaped (H, W): **True / 1 = hole**; on disk a
    mask is a single-channel PNG with 255 = hole;
  * aligned crops are 112x112 on the ArcFace 5-point template (:data:`idinpaint.align.ARCFACE_TEMPLATE`).
"""

__version__ = "0.1.0"
