"""Bounding-box regression (`zoo train --task boxes`): one box, and the class when the data has
labels, per image.

    annotations  the `boxes:` dataset: CSV rows `filename,x1,y1,x2,y2[,label]` (or a folder of
                 class folders with one CSV each), every bad row listed with its reason
    geometry     boxes under letter-box, flip, shift and zoom, and back to the image's pixels
    pipeline     the batches: images letter-boxed and augmented with their boxes moved alike
    model        the box head (4 sigmoid outputs) and class head on any registered backbone,
                 the loss (MSE or smooth L1, plus cross-entropy) and the IoU metrics
    evaluation   metrics.json of a boxes run: mean IoU, IoU >= 0.5, IoU >= 0.75, class accuracy
    predict      a trained run's box and class for image files, drawn on copies

A model's output is one float32 tensor `(N, 4 + K)`: the box `x1, y1, x2, y2` in [0, 1] of the
(letter-boxed) input, then the softmax over the K classes (K = 0 when the data names fewer than
two classes). One output keeps saving, resuming and exporting exactly as for classifiers.
"""

TASK = "boxes"
BOX_LOSSES = ("mse", "smooth_l1")
