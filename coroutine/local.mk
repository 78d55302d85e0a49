# coroutine/: the coroutine core (in libcoblock-common.la) and one small
# convenience library per backend, so that make check can link the same
# tests against every backend built on this host.

noinst_HEADERS += include/coroutine/coroutine-int.h
pkginclude_HEADERS += include/coblock/coroutine.h

# The core (coroutine.c) is compiled into each backend library with that
# backend's define, so that a backend may inline its switch.
COROUTINE_CORE_SOURCES = coroutine/lock.c
noinst_HEADERS += coroutine/switch-asm.h coroutine/switch-inline.h coroutine/sjlj.h

# libcoblock-with-BACKEND.la: the whole library with that backend, for the
# per-backend test and benchmark programs.
if HAVE_ASM_BACKEND
noinst_LTLIBRARIES += libco-asm.la libcoblock-with-asm.la
libco_asm_la_SOURCES = coroutine/coroutine.c coroutine/backend-asm.c coroutine/stack.c
libco_asm_la_CPPFLAGS = $(AM_CPPFLAGS) -DCOROUTINE_BACKEND_ASM
libcoblock_with_asm_la_SOURCES =
libcoblock_with_asm_la_LIBADD = libcoblock-common.la libco-asm.la
endif
if HAVE_UCONTEXT_BACKEND
noinst_LTLIBRARIES += libco-ucontext.la libcoblock-with-ucontext.la
libco_ucontext_la_SOURCES = coroutine/coroutine.c coroutine/backend-ucontext.c coroutine/stack.c
libco_ucontext_la_CPPFLAGS = $(AM_CPPFLAGS) -DCOROUTINE_BACKEND_UCONTEXT
libcoblock_with_ucontext_la_SOURCES =
libcoblock_with_ucontext_la_LIBADD = libcoblock-common.la libco-ucontext.la
endif
if HAVE_SIGALTSTACK_BACKEND
noinst_LTLIBRARIES += libco-sigaltstack.la libcoblock-with-sigaltstack.la
libco_sigaltstack_la_SOURCES = coroutine/coroutine.c coroutine/backend-sigaltstack.c coroutine/stack.c
libco_sigaltstack_la_CPPFLAGS = $(AM_CPPFLAGS) -DCOROUTINE_BACKEND_SIGALTSTACK
libcoblock_with_sigaltstack_la_SOURCES =
libcoblock_with_sigaltstack_la_LIBADD = libcoblock-common.la libco-sigaltstack.la
endif
if OS_WINDOWS
noinst_LTLIBRARIES += libco-windows.la
libco_windows_la_SOURCES = coroutine/coroutine.c coroutine/backend-windows.c
libco_windows_la_CPPFLAGS = $(AM_CPPFLAGS) -DCOROUTINE_BACKEND_WINDOWS
endif
EXTRA_DIST += coroutine/backend-asm.c coroutine/backend-ucontext.c \
	coroutine/backend-sigaltstack.c coroutine/backend-windows.c coroutine/stack.c

if COROUTINE_ASM
COROUTINE_BACKEND_LA = libco-asm.la
endif
if COROUTINE_UCONTEXT
COROUTINE_BACKEND_LA = libco-ucontext.la
endif
if COROUTINE_SIGALTSTACK
COROUTINE_BACKEND_LA = libco-sigaltstack.la
endif
if COROUTINE_WINDOWS
COROUTINE_BACKEND_LA = libco-windows.la
endif
