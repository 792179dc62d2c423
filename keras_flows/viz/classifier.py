"""The confusion matrix of a class-conditional model's generative classifier
(matplotlib and scikit-learn, imported lazily)."""

import numpy as np


def confusion_figure(model, x, labels, names=None, path=None, predicted=None):
    """A matplotlib `Figure`: rows the true classes of `x`, columns
    `model.predict_class(x)` (the argmax of `log p(x | y)`, uniform `p(y)`),
    each cell the count; the title gives the accuracy. Written to `path` (a
    PNG) when given. `x` is taken as given (pass dequantised images to score
    the points the held-out numbers use); `predicted`, when given, are those
    answers already computed."""
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
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    if path is not None:
        figure.savefig(path, dpi=90)
    return figure
