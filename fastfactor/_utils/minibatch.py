"""scikit-learn's stopping rule for mini-batch fits (MiniBatchNMF, MiniBatchDictionaryLearning).

Both keep an exponentially weighted average (EWA) of the batch costs and stop
when it has not reached a new minimum for ``max_no_improvement`` steps. The
estimator holds the state (``_ewa_cost``, ``_ewa_cost_min``,
``_no_improvement``) so that it survives ``partial_fit`` calls and checkpoints.
"""


def update_ewa_cost(est, batch_cost, batch_size, n_samples):
    """Fold one batch's cost into ``est._ewa_cost`` (weight: the batch's share of the data)."""
    if est._ewa_cost is None:
        est._ewa_cost = batch_cost
    else:
        weight = min(batch_size / (n_samples + 1), 1.0)
        est._ewa_cost = est._ewa_cost * (1 - weight) + batch_cost * weight


def no_improvement_stop(est):
    """Track the EWA cost's minimum; True once it has not improved ``max_no_improvement`` times."""
    if est._ewa_cost_min is None or est._ewa_cost < est._ewa_cost_min:
        est._no_improvement = 0
        est._ewa_cost_min = est._ewa_cost
    else:
        est._no_improvement += 1
    return (est.max_no_improvement is not None
            and est._no_improvement >= est.max_no_improvement)
