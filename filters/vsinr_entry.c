/*
 * Native entry point of vsinr: makes the `vsinr` namespace exist in every VapourSynth process.
 *
 * VapourSynth only loads native plugins and its Python module cannot register a namespace, so this
 * library configures the plugin and hands everything else to Python (vsinr.bridge.register), which
 * registers the functions through ctypes. Python's symbols are looked up at run time, so the library
 * also loads (with an empty namespace) in a process that has no Python interpreter.
 */
#include <dlfcn.h>
#include <stdint.h>
#include "VapourSynth4.h"

typedef struct PyObjectOpaque PyObject;
typedef int (*IsInitializedFn)(void);
typedef int (*GILEnsureFn)(void);
typedef void (*GILReleaseFn)(int);
typedef PyObject *(*ImportFn)(const char *);
typedef PyObject *(*CallMethodFn)(PyObject *, const char *, const char *, ...);
typedef void (*DecRefFn)(PyObject *);
typedef void (*ErrPrintFn)(void);

VS_EXTERNAL_API(void) VapourSynthPluginInit2(VSPlugin *plugin, const VSPLUGINAPI *vspapi) {
    vspapi->configPlugin("org.vsinr.host", "vsinr", "Implicit neural representation video methods",
                         VS_MAKE_VERSION(0, 1), VAPOURSYNTH_API_VERSION, 0, plugin);

    IsInitializedFn is_initialized = (IsInitializedFn)dlsym(RTLD_DEFAULT, "Py_IsInitialized");
    GILEnsureFn gil_ensure = (GILEnsureFn)dlsym(RTLD_DEFAULT, "PyGILState_Ensure");
    GILReleaseFn gil_release = (GILReleaseFn)dlsym(RTLD_DEFAULT, "PyGILState_Release");
    ImportFn import_module = (ImportFn)dlsym(RTLD_DEFAULT, "PyImport_ImportModule");
    CallMethodFn call_method = (CallMethodFn)dlsym(RTLD_DEFAULT, "PyObject_CallMethod");
    DecRefFn dec_ref = (DecRefFn)dlsym(RTLD_DEFAULT, "Py_DecRef");
    ErrPrintFn err_print = (ErrPrintFn)dlsym(RTLD_DEFAULT, "PyErr_Print");
    if (!is_initialized || !gil_ensure || !gil_release || !import_module || !call_method || !dec_ref || !err_print)
        return;
    if (!is_initialized())
        return;

    int gil = gil_ensure();
    PyObject *bridge = import_module("vsinr.bridge");
    if (bridge) {
        PyObject *result = call_method(bridge, "register", "KK", (unsigned long long)(uintptr_t)plugin,
                                       (unsigned long long)(uintptr_t)vspapi);
        if (result)
            dec_ref(result);
        else
            err_print();
        dec_ref(bridge);
    } else {
        err_print();
    }
    gil_release(gil);
}
