# Grouping of row tiles into blocks with their own accumulators (see blocks()).

cdef enum:
    # at most this many blocks, and this many bytes of accumulators, per pass
    MAX_BLOCKS = 16
    ACC_BUDGET = 1 << 23


cdef inline (int, int) blocks(int n_tiles, Py_ssize_t acc_doubles, int n_threads) noexcept:
    """Group tiles into blocks of consecutive tiles: ``(n_blocks, tiles_per_block)``.

    Each block sums into its own accumulators; blocks are handed to threads
    dynamically (``schedule='dynamic'``), so a thread that loses its core
    does not hold the others back, and the blocks' sums are added in block
    order afterwards. The result depends on the number of blocks, not on
    which thread did which block; the number of blocks depends on the
    thread count only when the accumulators are huge (``ACC_BUDGET``).
    """
    cdef Py_ssize_t budget = ACC_BUDGET // max(8 * acc_doubles, 1)
    cdef Py_ssize_t n_blocks = min(n_tiles, MAX_BLOCKS, max(<Py_ssize_t>n_threads, budget))
    cdef Py_ssize_t per_block
    n_blocks = max(1, n_blocks)
    per_block = (n_tiles + n_blocks - 1) // n_blocks
    return <int>((n_tiles + per_block - 1) // per_block), <int>per_block
