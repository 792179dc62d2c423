"""The confusion matrix of a class-conditional model's generative classifier."""

import numpy as np


def confusion_figure(model, x, labels, names=None, path=None, predicted=None):
    """A matplotlib `Figure` counting the true classes of `x` (rows) against
    `model.predict_class(x)` (columns), titled with the accuracy; written to the
    PNG `path` when given. `predicted`: those answers, when already computed."""
    from matplotlib.figure import Figure
    from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

    labels = np.asarray(labels)
    predicted = model.predict_class(x) if predicted is None else np.asarray(predicted)
    k = model.num_classes
    names = [str(y) for y in range(k)] if names is None else list(names)
    figure = Figure(figsize=(6, 5.5), layout="constrained")
    axes = figure.subplots()
    matrix = confusion_matrix(labels, predicted, labels=range(k))
    ConfusionMatrixDisplay(matrix, display_labels=names).plot(ax=axes, colorbar=False)
    axes.set_title(
        f"Generative classifier on {len(labels):,} held-out images (accuracy "
        f"{np.mean(predicted == labels):.1%})\nargmax over y of log p(x | y), "
        "uniform p(y)",
        fontsize=9,
    )
    axes.set(xlabel="predicted class", ylabel="true class")
    if path is not None:
        figure.savefig(path, dpi=90)
    return figure
