# Harness of codegen-mt's benchmark runs (MTPB and HumanEval). Started by src/eval/sandbox.ts, never imported.
#
#   exec_harness.py check                  prints {"python", "version", "executable", "missing": [...]} (numpy, pandas)
#   exec_harness.py problems FILE          MTPB problems with their templates filled (Python's str.format, as the
#                                          paper's sampler does), one JSON object a line
#   exec_harness.py samples FILE           a samples file in the paper's format, one JSON object a line
#   exec_harness.py run                    runs ONE untrusted program: the request is JSON on stdin, the result
#                                          JSON on file descriptor 3 (the program's own output cannot forge it
#                                          by printing)
#
# Values that the scorer compares (expected outputs) travel as JSON text produced here ("gold_json"), so that
# Python's distinction between 3 and 3.0 survives the trip through JavaScript.
#
# Scoring follows the CodeGen paper's executor (salesforce/CodeGen codegen1/benchmark/mtpb_exec.py):
# - the program's last statement is rewritten so that its value is printed, unless it is a call of print;
# - `print` is replaced, in the program's globals, by one that records its arguments and then prints;
# - the FIRST argument of the LAST recorded print call is compared with the expected output (even if the
#   program raised after it, as in the paper);
# - comparison rules: see check_equivalence below.
import ast
import io
import json
import os
import signal
import sys

MAX_TEXT = 2000


def emit(obj):
    print(json.dumps(obj), flush=True)


# --------------------------------------------------------------------------------------------------- data


def command_check():
    missing = []
    for name in ("numpy", "pandas"):
        try:
            __import__(name)
        except Exception:
            missing.append(name)
    emit({"python": sys.version.split()[0], "executable": sys.executable, "missing": missing})


def command_problems(path):
    with open(path, "r", encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                problem = json.loads(line)
                filled = [[template.format(**inp) for template in problem["prompts"]] for inp in problem["inputs"]]
                emit(
                    {
                        "id": str(problem["id"]),
                        "name": problem.get("name", ""),
                        "category": problem.get("category", ""),
                        "max_gen_length": problem.get("max_gen_length"),
                        "prompts": filled,
                        "inputs_json": [json.dumps(inp, allow_nan=False) for inp in problem["inputs"]],
                        "gold_json": [json.dumps(out, allow_nan=False) for out in problem["outputs"]],
                    }
                )
            except Exception as err:  # noqa: BLE001 - reported to the caller as data
                emit({"error": f"{path}:{number}: {type(err).__name__}: {err}"})


def command_samples(path):
    with open(path, "r", encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                sample = json.loads(line)
                emit(
                    {
                        "line": number,
                        "id": str(sample["id"]),
                        "mode": str(sample.get("mode") or "samples"),
                        "prompt_perplexity": sample.get("prompt_perplexity"),
                        "input_json": json.dumps(sample.get("input"), allow_nan=False),
                        "gold_json": json.dumps(sample["gold_output"], allow_nan=False),
                        "program": sample["completions"],
                    }
                )
            except Exception as err:  # noqa: BLE001
                emit({"error": f"{path}:{number}: {type(err).__name__}: {err}"})


# ------------------------------------------------------------------------------------------------ scoring


def rewrite_last_statement_with_print(code):
    """The paper's rewrite: unless the module ends with `print...(...)`, its last statement's value is wrapped
    in print(). Like the paper, this wraps the value of whatever the last statement is (an expression, but
    also an assignment's right-hand side); when that is impossible the code is left as it is."""
    try:
        tree = ast.parse(code)
        last = tree.body[-1]
        try:
            if last.value.func.id.startswith("print"):
                return code
        except Exception:  # noqa: BLE001 - not a print call
            pass
        last.value = ast.Call(func=ast.Name(id="print", ctx=ast.Load()), args=[last.value], keywords=[])
        ast.fix_missing_locations(last)
        return ast.unparse(tree)
    except Exception:  # noqa: BLE001 - syntax error, empty program, a last statement without a value
        return code


PRINT_HOOK = """import builtins
def print(*args, **kwargs):
    global print_stack
    print_stack.append({'args': args, 'kwargs': kwargs})
    return builtins.print(*args, **kwargs)
"""


def to_plain(value):
    """numpy scalars and arrays and pandas Series as plain Python values (the paper's conversions)."""
    module = type(value).__module__ or ""
    if module.startswith("pandas") and type(value).__name__ == "Series":
        return ("series", value)
    if isinstance(value, list):
        if len(value) > 0 and type(value[0]) == tuple:  # noqa: E721 - the paper checks the exact type
            return ("plain", [list(t) for t in value])
        return ("plain", value)
    if module == "numpy":
        import numpy as np

        if type(value) in (np.uint8, np.int16, np.int32, np.int64):
            return ("plain", int(value))
        if type(value) in (np.float16, np.float32, np.float64):
            return ("plain", float(value))
        if type(value) is np.bool_:
            return ("plain", bool(value))
        if type(value) is np.ndarray:
            return ("plain", value.tolist())
    return ("plain", value)


def check_equivalence(value, expected):
    """The paper's check_equivalence. Raises on what the paper cannot compare (the caller scores it failed)."""
    kind, value = to_plain(value)
    if kind == "series":
        # The paper compares a Series as an array: np.allclose(series.to_numpy(), np.array(expected)).
        import numpy as np

        return bool(np.allclose(value.to_numpy(), np.array(expected)))
    if type(value) != type(expected):  # noqa: E721
        if type(expected) == bool:  # noqa: E721 - bool("False") is True: compare as strings
            value, expected = str(value), str(expected)
        else:
            value = type(expected)(value)
    kind_ = type(value)
    if kind_ in (str, int, set, list, bool, tuple):
        return value == expected
    if kind_ == float:
        return abs(value - expected) < 1e-6
    raise ValueError(f"Unsupported type {kind_}")


def describe(value):
    try:
        text = repr(value)
    except Exception as err:  # noqa: BLE001
        text = f"<unrepresentable {type(value).__name__}: {err}>"
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "..."


# -------------------------------------------------------------------------------------------------- run


class TimedOut(BaseException):
    pass


def apply_limits(request):
    import resource

    drop = request.get("drop_to")
    if drop and os.getuid() == 0:
        os.setgroups([])
        os.setgid(drop["gid"])
        os.setuid(drop["uid"])
    memory = request.get("memory_bytes")
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    nproc = request.get("max_processes")
    if nproc:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    file_size = request.get("max_file_bytes")
    if file_size:
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def command_run():
    main_pid = os.getpid()
    result_out = os.fdopen(3, "w", encoding="utf-8")
    request = json.loads(sys.stdin.read())
    sys.stdin = io.StringIO("")
    kind = request["kind"]
    program = request["program"]
    timeout = float(request.get("timeout_s", 20))
    result = {"passed": False, "error": None, "printed": None, "stdout": ""}

    # numpy is imported before the limits (and any privilege drop), as in the paper's executor process.
    try:
        import numpy  # noqa: F401
    except Exception:  # noqa: BLE001
        pass
    try:
        apply_limits(request)
    except Exception as err:  # noqa: BLE001
        result["error"] = f"sandbox setup failed: {type(err).__name__}: {err}"
        result_out.write(json.dumps(result))
        result_out.flush()
        os._exit(0)

    def on_alarm(signum, frame):
        raise TimedOut()

    signal.signal(signal.SIGALRM, on_alarm)
    captured = io.StringIO()
    real_stdout = sys.stdout
    program_globals = {"print_stack": [], "__name__": "__main__"}
    error = None
    try:
        if kind == "mtpb":
            exec(PRINT_HOOK, program_globals)
            code = rewrite_last_statement_with_print(program)
        else:
            code = program
        sys.stdout = captured
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            exec(compile(code, "<program>", "exec"), program_globals)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            sys.stdout = real_stdout
    except TimedOut:
        error = "Timed out"
    except MemoryError:
        error = "MemoryError"
    except BaseException as err:  # noqa: BLE001 - SystemExit too: the program's problem, not ours
        error = f"{type(err).__name__}: {err}"
    if os.getpid() != main_pid:
        os._exit(0)  # a child the program forked: only the harness's own process reports
    sys.stdout = real_stdout
    signal.setitimer(signal.ITIMER_REAL, 0)

    if kind == "mtpb":
        # As in the paper, a run that raised after printing is still scored on its last print.
        if error == "Timed out":
            result["error"] = error
        else:
            try:
                stack = program_globals.get("print_stack")
                value = stack[-1]["args"][0]
                result["printed"] = describe(value)
                expected = json.loads(request["gold_json"])
                result["passed"] = bool(check_equivalence(value, expected))
                result["error"] = error
            except BaseException as err:  # noqa: BLE001
                result["error"] = error or f"{type(err).__name__}: {err}"
    else:
        result["passed"] = error is None
        result["error"] = error
    text = captured.getvalue()
    result["stdout"] = text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "..."
    try:
        result_out.write(json.dumps(result))
        result_out.flush()
    except BaseException:  # noqa: BLE001 - the program closed or replaced fd 3: no result
        pass
    os._exit(0)


def main(argv):
    if len(argv) >= 1 and argv[0] == "check":
        command_check()
    elif len(argv) == 2 and argv[0] == "problems":
        command_problems(argv[1])
    elif len(argv) == 2 and argv[0] == "samples":
        command_samples(argv[1])
    elif len(argv) == 1 and argv[0] == "run":
        command_run()
    else:
        sys.stderr.write("usage: exec_harness.py check | problems FILE | samples FILE | run\n")
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
