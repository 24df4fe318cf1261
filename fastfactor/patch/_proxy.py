"""How a patched object decides, call by call, whether fastfactor or scikit-learn runs it.

A patched class subclasses scikit-learn's and keeps its ``__init__`` (so its
parameters, ``get_params``, ``clone`` and pickling are scikit-learn's). Each
public method it overrides first tries fastfactor: the estimator's
parameters are handed to the fastfactor class of the same name and its
fitted attributes are copied back. The call falls back to scikit-learn's
method when

* the object's class overrides a step of scikit-learn's class (a subclass
  with its own ``_m_step``, ``fit`` ... must run scikit-learn's algorithm,
  which calls those steps), or a private helper function of scikit-learn's
  module was replaced since patching (tests and instrumentation monkeypatch
  them to watch or change the algorithm);
* the model was fitted by scikit-learn (its state is scikit-learn's);
* fastfactor raises for the parameters or the input: scikit-learn's code
  then decides, so its result or its own error is what the caller gets.

While a fallback runs, the object's other overridden methods go straight to
scikit-learn too (scikit-learn's ``fit`` calls ``fit_predict`` ...).
"""
import sys
import threading

from ._registry import record

_state = threading.local()


class Unsupported(Exception):
    """fastfactor does not handle this call; the message says why."""


def _in_fallback():
    return getattr(_state, "depth", 0) > 0


def run(name, fast, slow):
    """``fast()`` counted as fastfactor's, or ``slow()`` (scikit-learn's) on a fallback."""
    if _in_fallback():
        return slow()
    try:
        result = fast()
    except Exception as exc:  # noqa: BLE001 - any failure hands the call to scikit-learn
        reason = str(exc) if isinstance(exc, Unsupported) else f"{type(exc).__name__}: {exc}"
        record(name, "sklearn", reason)
        _state.depth = getattr(_state, "depth", 0) + 1
        try:
            return slow()
        finally:
            _state.depth -= 1
    record(name, "fastfactor")
    return result


def overridden_steps(obj, patched_class, sklearn_class):
    """Names of ``sklearn_class``'s methods that ``type(obj)`` overrides below ``patched_class``."""
    cls = type(obj)
    if cls is patched_class:
        return []
    steps = []
    for klass in cls.__mro__:
        if klass is patched_class:
            break
        for attr in vars(klass):
            dunder = attr.startswith("__") and attr.endswith("__") and attr != "__init__"
            if dunder or attr == "_abc_impl":  # class machinery every subclass gets
                continue
            if hasattr(sklearn_class, attr):
                steps.append(attr)
    return steps


def fitted_attributes(est):
    """The public fitted attributes of ``est`` (names ending in ``_``)."""
    return {k: v for k, v in vars(est).items() if k.endswith("_") and not k.startswith("_")}


class Accelerated:
    """Mixin of a patched estimator class; subclasses set the three class attributes.

    ``_ff_class`` is the fastfactor estimator, ``_sk_class`` scikit-learn's
    (the patched class's base) and ``_ff_name`` the name counted in the stats.
    """

    _ff_class = None
    _sk_class = None
    _ff_name = None
    _sk_helpers = {}  # private functions of scikit-learn's module, as they were at patching

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if Accelerated in cls.__bases__:  # a patched class, not a user's subclass of one
            module = sys.modules[cls._sk_class.__module__]
            cls._sk_helpers = {name: obj for name, obj in vars(module).items()
                               if name.startswith("_") and callable(obj)}

    # -- the fastfactor twin ------------------------------------------------
    def _ff_estimator(self, *, fitted):
        """A fastfactor estimator with this object's parameters (and fitted state)."""
        patched = type(self)._patched_class()
        steps = overridden_steps(self, patched, self._sk_class)
        if steps:
            raise Unsupported(f"{type(self).__name__} overrides {', '.join(sorted(steps))}")
        module = sys.modules[self._sk_class.__module__]
        replaced = [name for name, obj in patched._sk_helpers.items()
                    if getattr(module, name, None) is not obj]
        if replaced:
            raise Unsupported(f"{module.__name__}.{', '.join(sorted(replaced))} was replaced")
        est = self._ff_class(**self.get_params(deep=False))
        if fitted:
            if not getattr(self, "_ff_fitted", False):
                raise Unsupported("the model was fitted by scikit-learn")
            for key, value in fitted_attributes(self).items():
                setattr(est, key, value)
            for key in getattr(self, "_ff_private_names", ()):
                setattr(est, key, getattr(self, key))
        return est

    @classmethod
    def _patched_class(cls):
        for klass in cls.__mro__:
            if Accelerated in klass.__bases__:
                return klass
        return cls

    def _ff_adopt(self, est):
        """Copy the fitted state of fastfactor estimator ``est`` onto this object."""
        for key, value in fitted_attributes(est).items():
            setattr(self, key, value)
        # fastfactor's private fitted state: its methods read it back, and it keeps
        # scikit-learn's private names where both have them (_n_components, _A, _B ...)
        self._ff_private_names = [k for k in vars(est)
                                  if k.startswith("_") and not k.startswith("__")]
        for key in self._ff_private_names:
            setattr(self, key, getattr(est, key))
        self._ff_fitted = True

    def _ff_fit(self, method, *args, keep_state=False, **kwargs):
        """Run ``method`` of a fastfactor twin and adopt its fitted state.

        ``keep_state``: the method continues from the current fit
        (``partial_fit``, ``warm_start``), so the twin gets that state.
        """
        def fast():
            est = self._ff_estimator(fitted=keep_state and bool(fitted_attributes(self)))
            result = getattr(est, method)(*args, **kwargs)
            self._ff_adopt(est)
            return self if result is est else result

        def slow():
            self._ff_fitted = False
            return getattr(self._sk_class, method)(self, *args, **kwargs)

        return run(self._ff_name, fast, slow)

    def _ff_call(self, method, *args, stateless=False, **kwargs):
        """Run ``method`` (which does not fit) on a fastfactor twin of this object.

        ``stateless``: the method needs no fit (``SparseCoder.transform``).
        """
        def fast():
            return getattr(self._ff_estimator(fitted=not stateless), method)(*args, **kwargs)

        return run(self._ff_name, fast,
                   lambda: getattr(self._sk_class, method)(self, *args, **kwargs))
