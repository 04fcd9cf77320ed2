"""The public contract without VapourSynth: ``tasks.plan`` turns calls into plans or usage errors, and
equal engine requests are equal whatever function or scale asked."""

from __future__ import annotations

from fractions import Fraction

import pytest

from vsinr.host import plugins
from vsinr.host.methods import EngineRequest
from vsinr.serving import tasks

RGBS = tasks.ClipInfo("RGBS", 32, 24, 6, Fraction(24))


def plan(function: str, clip: tasks.ClipInfo = RGBS, **given: object) -> tasks.Plan:
    return tasks.plan(tasks.FUNCTIONS[function], clip, given)


def refusal(function: str, clip: tasks.ClipInfo = RGBS, **given: object) -> str:
    with pytest.raises(tasks.UsageError) as info:
        plan(function, clip, **given)
    return str(info.value)


def test_stvsr_plan_sizes_rates_and_default_methods() -> None:
    p = plan("stvsr", sscale=2, tscale=4)
    assert (p.out_size, p.in_size, p.fps_out, p.timemap.num_frames) == ((48, 64), (24, 32), Fraction(96), 24)
    assert p.method.name == "videoinr" and p.temporal
    assert plan("stvsr", sscale=4, tscale=2).method.name == "zsm"  # the ×4 ×2 specialist outranks videoinr there
    exact = plan("stvsr", sscale=2, fps_num=60000, fps_den=1001, clip=tasks.ClipInfo("RGBS", 32, 24, 5, Fraction(24000, 1001)))
    assert exact.tscale == Fraction(5, 2) and exact.timemap.num_frames == 12


def test_native_resize_makes_the_engine_read_output_sized_frames() -> None:
    p = plan("stvsr", sscale=2, tscale=2, method="classic")
    assert p.native_resize == ("Spline36", {}) and p.in_size == p.out_size == (48, 64)
    assert plan("interpolate", factor=2, method="classic").native_resize is None


def test_usage_errors_say_what_to_do() -> None:
    assert tasks.CONVERT_HINT in refusal("stvsr", tasks.ClipInfo("YUV420P8", 32, 24, 6, Fraction(24)), sscale=2)
    assert "variable frame size" in refusal("stvsr", tasks.ClipInfo("RGBS", 0, 0, 6, Fraction(24)), sscale=2)
    assert "AssumeFPS" in refusal("interpolate", tasks.ClipInfo("RGBS", 32, 24, 6, Fraction(0)))
    assert "not both" in refusal("stvsr", tscale=2, fps_num=48)
    assert "only raises frame rates" in refusal("interpolate", factor=0.5)
    assert "installed methods for STVSR" in refusal("stvsr", sscale=2, method="nosuch")
    assert "methods that can" in refusal("stvsr", sscale=2, tscale=2, method="zsm")  # zsm does ×4 ×2 only
    assert "not a parameter of method 'classic'" in refusal("stvsr", sscale=2, method="classic", degradation="noise")
    assert "is not one of" in refusal("stvsr", sscale=2, method="classic", kernel="sinc")
    assert "at least 2 frames" in refusal("interpolate", tasks.ClipInfo("RGBS", 32, 24, 1, Fraction(24)))


def test_inpaint_checks_its_mask() -> None:
    gray = tasks.ClipInfo("Gray8", 32, 24, 1, Fraction(24))
    assert plan("inpaint", mask=gray).method.name == "flowfill"  # the default (docs/flowfill.md)
    assert "must be GRAY" in refusal("inpaint", mask=RGBS)
    assert "resize the mask" in refusal("inpaint", mask=tasks.ClipInfo("Gray8", 16, 24, 1, Fraction(24)))
    assert "one mask frame per clip" in refusal("inpaint", mask=tasks.ClipInfo("Gray8", 32, 24, 3, Fraction(24)))
    assert "mask has a variable frame size" in refusal("inpaint", mask=tasks.ClipInfo("Gray8", 0, 0, 1, Fraction(24)))


def request(**fields: object) -> EngineRequest:
    return EngineRequest(device="cpu", half=False, weights="", call=tuple(fields.items()))  # type: ignore[arg-type]


def test_engine_requests_ignore_what_the_loader_does_not_read() -> None:
    methods = plugins.methods()
    videoinr, zsm, classic = methods["videoinr"], methods["zsm"], methods["classic"]
    a = request(task="stvsr", sscale=Fraction(2), tscale=Fraction(4))
    b = request(task="interpolate", sscale=Fraction(1), tscale=Fraction(2))
    assert videoinr.engine_request(a) == videoinr.engine_request(b)
    assert zsm.engine_request(a) != zsm.engine_request(request(task="denoise"))  # other weights per task
    assert classic.engine_request(a) != classic.engine_request(request(sscale=Fraction(3)))  # flow at source size
    assert classic.engine_request(a) == classic.engine_request(request(task="interpolate", sscale=Fraction(2)))
    with pytest.raises(KeyError, match="list it in the method's MethodSpec.reads"):
        videoinr.engine_request(a).read("task")  # a loader cannot read what its method did not declare


@pytest.mark.parametrize("name", list(tasks.FUNCTIONS))
def test_the_python_api_names_every_argument_of_its_function(name: str) -> None:
    import inspect

    import vsinr

    fn = tasks.FUNCTIONS[name]
    parameters = inspect.signature(getattr(vsinr, fn.python_name)).parameters
    named = [p for p in parameters if p not in ("clip", "params")]
    assert named == [arg.name for arg in fn.args]  # same names, same order: positional use agrees too
    assert all(parameters[a.name].default in (a.default, None) or a.type in ("int[]", "vnode") for a in fn.args)


def test_method_checks_run_before_anything_loads() -> None:
    gray = tasks.ClipInfo("Gray8", 32, 24, 1, Fraction(24))
    assert "overlap=5 must be from 0 to chunk-1" in refusal("interpolate", method="ofsiren", chunk=5, overlap=5)
    assert "hold=2.0 is a probability" in refusal("interpolate", method="snerv", hold=2.0)
    assert "size='7M'" in refusal("inpaint", mask=gray, method="snerv", size="7M")
    assert "size='inf'" in refusal("inpaint", mask=gray, method="snerv", size="inf")
    assert "window=1 is out of range" in refusal("stvsr", sscale=4, tscale=2, method="zsm", window=1)
    assert "leaves nothing to restore" in refusal("denoise", method="zsm", degradation="clean")


def test_weights_for_a_method_without_any_are_refused() -> None:
    for method in ("classic", "ofsiren"):
        assert f"method {method!r} has no weights" in refusal("interpolate", method=method, weights="w.safetensors")
    assert plan("stvsr", sscale=2, weights="w.safetensors").weights == "w.safetensors"  # videoinr takes them
