# OpenMP shims usable from every kernel module, with or without OpenMP.
cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define FF_OPENMP_ENABLED 1
    static int ff_omp_get_max_threads(void) { return omp_get_max_threads(); }
    static int ff_omp_get_thread_num(void) { return omp_get_thread_num(); }
    #else
    #define FF_OPENMP_ENABLED 0
    static int ff_omp_get_max_threads(void) { return 1; }
    static int ff_omp_get_thread_num(void) { return 0; }
    #endif
    """
    bint FF_OPENMP_ENABLED
    int ff_omp_get_max_threads() noexcept nogil
    int ff_omp_get_thread_num() noexcept nogil
