"""What the CPU running this process can do, for picking kernel builds.

The kernel modules are also compiled for x86-64 CPUs with AVX2 and FMA
(see ``src/meson.build``); ``fastfactor._dispatch`` loads those only when
this module says the CPU and the operating system support them.
"""

cdef extern from *:
    """
    #if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    /* __builtin_cpu_supports also checks that the OS saves the AVX registers. */
    static int ff_cpu_has_avx2_fma(void) {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    #else
    static int ff_cpu_has_avx2_fma(void) { return 0; }
    #endif
    """
    int ff_cpu_has_avx2_fma() noexcept nogil


def has_avx2_fma():
    """Return True when this CPU (and OS) can run AVX2 and FMA instructions."""
    return bool(ff_cpu_has_avx2_fma())
