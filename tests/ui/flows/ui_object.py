"""A step whose result is an object of a class of the flow file: previewed only on request."""

from lamina import Flow

flow = Flow("ui_object")


class Model:
    def __init__(self, alpha):
        self.alpha = alpha

    def __repr__(self):
        return f"Model(alpha={self.alpha})"


@flow.step
def fit(alpha: float = 0.3) -> Model:
    return Model(alpha)
