# Harness of codegen-mt's benchmark runs (MTPB and HumanEval). Started by src/eval/sandbox.ts, never imported.
#
#   exec_harness.py check                  prints {"python", "version", "executable", "missing": [...]} (numpy, pandas)
#   exec_harness.py problems FILE          MTPB problems with their templates filled (Python's str.format, as the
#                                          paper's sampler does), one JSON object a line
#   exec_harness.py samples FILE           a samples file in the paper's format, one JSON object a line
#   exec_harness.py run                    the JUDGE of ONE untrusted program: the request (with the expected
#                                          value or the tests) is JSON on stdin, the result JSON on fd 3
#   exec_harness.py program CALLS REPORT   the PROGRAM PROCESS, started by the judge: runs the program and sends
#                                          what it printed (or returned) back, as data
#
# The judge never runs model-written code. It starts the program process (a fresh interpreter, so it never holds
# the expected value nor any of the judge's files: only the two pipes named on its command line), which applies
# the limits and drops privileges, runs the program, and sends back the value to compare in a data-only encoding
# (JSON with tags, see encode_value; never pickle or eval). The judge decodes it into plain Python values and
# compares them itself. So the program cannot reach the result channel or the comparison; what it can forge on
# its own pipe is only a value it could have printed, and it never sees the expected value (MTPB: only its type,
# which the paper's cast needs; HumanEval: the tests run in the judge and call the program's function).
#
# Values that the scorer compares (expected outputs) travel as JSON text produced here ("gold_json"), so that
# Python's distinction between 3 and 3.0 survives the trip through JavaScript.
#
# Scoring follows the CodeGen paper's executor (salesforce/CodeGen codegen1/benchmark/mtpb_exec.py):
# - the program's last statement is rewritten so that its value is printed, unless it is a call of print;
# - `print` is replaced, in the program's globals, by one that records its arguments and then prints;
# - the FIRST argument of the LAST recorded print call is compared with the expected output (even if the
#   program raised after it, as in the paper);
# - comparison rules: see check_equivalence below (the conversions that need the printed object itself,
#   to_plain and the cast to the expected type, happen in the program process: program_value).
import ast
import io
import json
import os
import select
import signal
import subprocess
import sys
import time

MAX_TEXT = 2000
# The most the judge reads of one message from the program process (the encoded value, its output).
MAX_MESSAGE = 16 * 1024 * 1024
# Deeper values are not plain data the paper's rules compare (and a self-containing list would never end).
MAX_DEPTH = 200


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

# What the program process casts to: the expected value's type, by name (the only thing it knows of it).
EXPECTED_TYPES = {t.__name__: t for t in (int, float, str, bool, list, dict, type(None))}


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


def program_value(value, expected_type):
    """Program process: the first half of the paper's check_equivalence, the part that needs the printed object
    (to_plain, and the cast `type(expected)(value)`, or str() when a bool is expected), encoded for the judge."""
    kind, value = to_plain(value)
    if kind == "series":
        return {"t": "series", "v": encode_value(value.to_numpy().tolist())}
    if type(value) != expected_type:  # noqa: E721
        value = str(value) if expected_type == bool else expected_type(value)
    return encode_value(value)


class SeriesValues:
    """A pandas Series the program printed, as its values: the paper compares it with np.allclose."""

    __slots__ = ("values",)

    def __init__(self, values):
        self.values = values


def check_equivalence(value, expected):
    """The paper's check_equivalence, in the judge, on the decoded value (already converted by program_value,
    so the cast below changes nothing for an honest program). Raises on what the paper cannot compare (the
    caller scores it failed)."""
    if isinstance(value, SeriesValues):
        # The paper compares a Series as an array: np.allclose(series.to_numpy(), np.array(expected)).
        import numpy as np

        return bool(np.allclose(np.array(value.values), np.array(expected)))
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


def cap_text(text):
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "..."


def describe(value):
    try:
        text = repr(value)
    except Exception as err:  # noqa: BLE001
        text = f"<unrepresentable {type(value).__name__}: {err}>"
    return cap_text(text)


def program_line(err):
    """The program's line where `err` was raised (its innermost frame in the program; a syntax error's line), or None."""
    line = None
    tb = err.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<program>":
            line = tb.tb_lineno
        tb = tb.tb_next
    if line is None and isinstance(err, SyntaxError) and err.filename == "<program>":
        line = err.lineno
    return line if type(line) is int else None


def describe_error(err):
    if isinstance(err, MemoryError):
        return "MemoryError"
    try:
        return cap_text(f"{type(err).__name__}: {err}")
    except BaseException:  # noqa: BLE001 - an exception whose str() raises
        return f"{type(err).__name__}: <unprintable>"


# ---------------------------------------------------------------------------------- values between processes
#
# A value crosses as JSON: None, bools, small ints, floats (NaN and infinities as Python's json writes them) and
# strs as themselves, lists as arrays; everything else as an object {"t": tag, "v": ...}: "int" (a big one, in
# hex: decimal parsing is quadratic), "tuple", "set", "frozenset", "dict" (a list of [key, value]), "series"
# (the values of a pandas Series) and "opaque" (anything else: a custom object, an ndarray inside a list, a
# subclass that may override __eq__), which the judge turns into a marker equal to nothing. Only exact types
# count as plain: `class A(int)` with its own __eq__ is opaque. numpy scalars become the Python number they
# hold (the paper compares a nested np.int64(1) equal to 1).

BARE_INT = 1 << 62
_numpy_scalars = None


def numpy_scalar_types():
    global _numpy_scalars
    if _numpy_scalars is None:
        _numpy_scalars = {}
        np = sys.modules.get("numpy")
        if np is not None:
            for t in set(np.sctypeDict.values()):
                if issubclass(t, np.bool_):
                    _numpy_scalars[t] = bool
                elif issubclass(t, np.integer):
                    _numpy_scalars[t] = int
                elif issubclass(t, np.floating):
                    _numpy_scalars[t] = float
                elif issubclass(t, np.str_):
                    _numpy_scalars[t] = str
    return _numpy_scalars


def encode_value(value, depth=0):
    kind = type(value)
    if value is None or kind is bool or kind is str or kind is float:
        return value
    if kind is int:
        return value if -BARE_INT < value < BARE_INT else {"t": "int", "v": hex(value)}
    if depth >= MAX_DEPTH:
        return {"t": "opaque", "v": "too deeply nested"}
    if kind is list:
        return [encode_value(v, depth + 1) for v in value]
    if kind is tuple or kind is set or kind is frozenset:
        return {"t": kind.__name__, "v": [encode_value(v, depth + 1) for v in value]}
    if kind is dict:
        return {"t": "dict", "v": [[encode_value(k, depth + 1), encode_value(v, depth + 1)] for k, v in value.items()]}
    convert = numpy_scalar_types().get(kind)
    if convert is not None:
        return encode_value(convert(value), depth)
    return {"t": "opaque", "v": kind.__name__}


class Opaque:
    """What the program printed or returned that is not plain data: equal to nothing, not even itself."""

    __slots__ = ("type_name",)

    def __init__(self, type_name):
        self.type_name = type_name

    def __eq__(self, other):
        return False

    def __ne__(self, other):
        return True

    __hash__ = object.__hash__

    def __repr__(self):
        return f"<{self.type_name}>"


def decode_value(data, depth=0):
    """The judge's side (and the program's, for HumanEval arguments): JSON data to plain Python values only."""
    kind = type(data)
    if data is None or kind is bool or kind is int or kind is float or kind is str:
        return data
    if depth > MAX_DEPTH + 1:
        raise ValueError("value nested too deeply")
    if kind is list:
        return [decode_value(v, depth + 1) for v in data]
    if kind is not dict or set(data) != {"t", "v"}:
        raise ValueError("not an encoded value")
    tag, inner = data["t"], data["v"]
    if tag == "int" and type(inner) is str:
        return int(inner, 16)
    if tag == "opaque":
        return Opaque(str(inner)[:100])
    if type(inner) is not list:
        raise ValueError(f"not an encoded {tag}")
    if tag == "dict":
        pairs = [decode_value(pair, depth + 1) for pair in inner]
        if not all(type(pair) is list and len(pair) == 2 for pair in pairs):
            raise ValueError("not an encoded dict")
        return {k: v for k, v in pairs}
    items = [decode_value(v, depth + 1) for v in inner]
    if tag == "tuple":
        return tuple(items)
    if tag == "set":
        return set(items)
    if tag == "frozenset":
        return frozenset(items)
    if tag == "series":
        return SeriesValues(items)
    raise ValueError(f"unknown tag {tag!r}")


def message_line(message):
    return json.dumps(message, separators=(",", ":")).encode("utf-8") + b"\n"


# ------------------------------------------------------------------------------------------ program process


def libc():
    import ctypes

    return ctypes, ctypes.CDLL(None, use_errno=True)


def prctl(option, value):
    ctypes, lib = libc()
    if lib.prctl(option, value, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl({option}): {os.strerror(errno)}")


PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38


def drop_bounding_set():
    """No capability can come back through execve. Needs CAP_SETPCAP (root, also in a user namespace); without
    it there is none to drop, and no_new_privs (clear_capabilities) stops setuid programs."""
    _, lib = libc()
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    for cap in range(last + 1):
        if lib.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break


def clear_capabilities():
    """No capability left: the program cannot ptrace the judge nor read its /proc files even when it keeps the
    judge's uid (root in a user namespace, or root when `nobody` cannot run numpy)."""
    ctypes, lib = libc()

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    header = Header(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3: two Data, all zero
    if lib.capset(ctypes.byref(header), (Data * 2)()) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"capset: {os.strerror(errno)}")
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    with open("/proc/self/status") as f:
        status = dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)
    for field in ("CapPrm", "CapEff", "CapAmb"):
        if int(status.get(field, "0"), 16) != 0:
            raise OSError(f"capabilities remain ({field} {status[field].strip()})")


def apply_limits(spec):
    import resource

    drop_bounding_set()
    drop = spec.get("drop_to")
    if drop and os.getuid() == 0:
        os.setgroups([])
        os.setgid(drop["gid"])
        os.setuid(drop["uid"])
    clear_capabilities()
    memory = spec.get("memory_bytes")
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    nproc = spec.get("max_processes")
    if nproc:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    file_size = spec.get("max_file_bytes")
    if file_size:
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def command_program(calls_fd, report_fd):
    calls = os.fdopen(calls_fd, "rb")
    report = os.fdopen(report_fd, "wb")

    def send(message):
        report.write(message_line(message))
        report.flush()

    spec = json.loads(calls.readline())
    sys.stdin = io.StringIO("")
    kind = spec["kind"]
    # numpy is imported before the limits (and any privilege drop), as in the paper's executor process.
    try:
        import numpy  # noqa: F401
    except Exception:  # noqa: BLE001
        pass
    try:
        apply_limits(spec)
    except Exception as err:  # noqa: BLE001
        send({"setup_error": describe_error(err)})
        os._exit(0)
    if kind in ("mtpb", "script"):
        calls.close()
    program_pid = os.getpid()
    captured = io.StringIO()
    real_stdout = sys.stdout
    program_globals = {"print_stack": [], "__name__": "__main__"}
    if kind == "mtpb":
        exec(PRINT_HOOK, program_globals)
        code = rewrite_last_statement_with_print(spec["program"])
    else:
        code = spec["program"]
    send({"started": True})

    error = None
    error_line = None
    sys.stdout = captured
    try:
        exec(compile(code, "<program>", "exec"), program_globals)
    except BaseException as err:  # noqa: BLE001 - SystemExit too: the program's problem, not ours
        error = describe_error(err)
        error_line = program_line(err)
    finally:
        sys.stdout = real_stdout
    if os.getpid() != program_pid:
        os._exit(0)  # a child the program forked: only the program process reports

    if kind == "script":
        # The program as the user has it, run for what it prints and whether (and where) it raises.
        send({"report": {"error": error, "line": error_line, "stdout": cap_text(captured.getvalue())}})
        os._exit(0)

    if kind == "mtpb":
        # As in the paper, a run that raised after printing is still scored on its last print.
        message = {"error": error}
        try:
            value = program_globals.get("print_stack")[-1]["args"][0]
            message["printed"] = describe(value)
            message["value"] = program_value(value, EXPECTED_TYPES[spec["expected_type"]])
        except BaseException as err:  # noqa: BLE001
            message["value_error"] = describe_error(err)
        message["stdout"] = cap_text(captured.getvalue())
        send({"report": message})
        os._exit(0)

    # HumanEval: serve the judge's calls of the program's functions until it says it is done.
    send({"ready": True, "error": error})
    if error is not None:
        os._exit(0)
    while True:
        line = calls.readline()
        if not line:
            os._exit(0)
        call = json.loads(line)
        if call.get("finish"):
            send({"stdout": cap_text(captured.getvalue())})
            os._exit(0)
        sys.stdout = captured
        try:
            function = program_globals.get(call["call"])
            if function is None:
                raise NameError(f"name {call['call']!r} is not defined")
            args = [decode_value(a) for a in call["args"]]
            kwargs = {k: decode_value(v) for k, v in call["kwargs"].items()}
            reply = {"return": encode_value(function(*args, **kwargs))}
        except BaseException as err:  # noqa: BLE001
            reply = {"raised": describe_error(err)}
        finally:
            sys.stdout = real_stdout
        if os.getpid() != program_pid:
            os._exit(0)
        send(reply)


# -------------------------------------------------------------------------------------------------- judge


class ProgramFailed(BaseException):
    """The program process timed out, ended, or sent something unreadable: the run fails with `error`. A
    BaseException, so that no `except Exception` of a HumanEval test can take it for a failed assertion."""

    def __init__(self, error, timed_out=False):
        super().__init__(error)
        self.error = error
        self.timed_out = timed_out


class ProgramRaised(Exception):
    """A call of the program's function raised (HumanEval): the test sees an exception, as it would have."""


class ProgramProcess:
    """The untrusted side, seen from the judge: `exec_harness.py program` in a fresh interpreter, which holds
    nothing of the judge's (close_fds) but its two pipes: calls (judge to program), reports (program to judge)."""

    def __init__(self, spec, deadline):
        calls_read, self.calls = os.pipe()
        self.reports, report_write = os.pipe()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-B", os.path.abspath(__file__), "program", str(calls_read), str(report_write)],
                stdin=subprocess.DEVNULL,
                pass_fds=(calls_read, report_write),
            )
        finally:
            os.close(calls_read)
            os.close(report_write)
        os.set_blocking(self.calls, False)
        try:
            self.exit_fd = os.pidfd_open(self.process.pid)
        except (AttributeError, OSError):
            self.exit_fd = None  # polled instead
        self.buffer = bytearray()
        self.scanned = 0
        self.ended = False
        self.send(spec, deadline)

    def send(self, message, deadline):
        data = memoryview(message_line(message))
        while data:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProgramFailed("Timed out", timed_out=True)
            _, writable, _ = select.select([], [self.calls], [], min(remaining, 0.05))
            if self.process.poll() is not None:
                raise ProgramFailed(self.gone())
            if writable:
                try:
                    data = data[os.write(self.calls, data) :]
                except BlockingIOError:
                    pass
                except BrokenPipeError:
                    raise ProgramFailed(self.gone()) from None

    def receive(self, deadline):
        """The next message (a JSON object) from the program process, by `deadline` (time.monotonic())."""
        while True:
            newline = self.buffer.find(b"\n", self.scanned)
            if newline >= 0:
                line = bytes(self.buffer[:newline])
                del self.buffer[: newline + 1]
                self.scanned = 0
                try:
                    message = json.loads(line)
                except ValueError:
                    message = None
                if type(message) is not dict:
                    raise ProgramFailed("no result (the program process sent something that is not a message)")
                return message
            self.scanned = len(self.buffer)
            if self.scanned > MAX_MESSAGE:
                raise ProgramFailed(f"no result (the program process sent more than {MAX_MESSAGE} bytes)")
            if self.ended:
                raise ProgramFailed(self.gone())
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProgramFailed("Timed out", timed_out=True)
            watched = [self.reports] if self.exit_fd is None else [self.reports, self.exit_fd]
            ready, _, _ = select.select(watched, [], [], min(remaining, 0.05) if self.exit_fd is None else remaining)
            if self.reports in ready:
                self.read_available()
            elif self.process.poll() is not None:
                # Its children may hold the pipe open: what it wrote before it ended is there now.
                self.read_available(until_empty=True)
                self.ended = True

    def read_available(self, until_empty=False):
        while True:
            chunk = os.read(self.reports, 1 << 20)
            if not chunk:
                self.ended = True  # every writer is gone
                return
            self.buffer += chunk
            if not until_empty or len(self.buffer) > MAX_MESSAGE or not select.select([self.reports], [], [], 0)[0]:
                return

    def gone(self):
        code = self.process.poll()
        if code is None:
            return "no result (the program process closed its pipe)"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = str(-code)
            return f"no result (the program process was killed by {name})"
        return f"no result (the program process ended with exit code {code} before reporting)"

    def kill_tree(self):
        if os.getpid() == 1:
            # The judge is the init of the run's PID namespace: every other process in it is the program's.
            try:
                os.kill(-1, signal.SIGKILL)
            except OSError:
                pass
        else:
            # Without a PID namespace, sandbox.ts kills the process group (this one's) when the judge has exited.
            self.process.kill()


class ProgramFunction:
    """HumanEval: the candidate function as the judge's tests see it, each call made in the program process
    with arguments and return value in the data-only encoding."""

    def __init__(self, program, name):
        self.program = program
        self.name = name
        self.deadline = None
        self.__name__ = name

    def __call__(self, *args, **kwargs):
        call = {
            "call": self.name,
            "args": [encode_value(a) for a in args],
            "kwargs": {str(k): encode_value(v) for k, v in kwargs.items()},
        }
        self.program.send(call, self.deadline)
        reply = self.program.receive(self.deadline)
        if "return" in reply:
            try:
                return decode_value(reply["return"])
            except Exception as err:  # noqa: BLE001
                raise ProgramFailed(f"no result (the program process sent an unreadable value: {err})") from None
        raise ProgramRaised(text_from_program(reply.get("raised")) or "the call failed")


def text_from_program(value):
    return cap_text(value) if type(value) is str else None


def start_program(spec, result):
    """Starts the program process and waits until it is about to run the program; None if it cannot."""
    # Starting it (an interpreter, numpy, the limits) is not counted in the program's time limit (sandbox.ts sets it).
    deadline = time.monotonic() + spec["setup_s"]
    program = None
    try:
        program = ProgramProcess(spec, deadline)
        message = program.receive(deadline)
    except OSError as err:
        message = {"setup_error": f"cannot start the program process: {err}"}
    except ProgramFailed as failed:
        message = {"setup_error": "the program process did not start in time" if failed.timed_out else failed.error}
    if "started" in message:
        return program
    result["error"] = f"sandbox setup failed: {text_from_program(message.get('setup_error')) or 'no answer'}"
    if program is not None:
        program.kill_tree()
    return None


def run_for_report(spec, timeout, result):
    """Runs the program process to its one report (mtpb, script); None if it could not start (result says why)."""
    program = start_program(spec, result)
    if program is None:
        return None
    try:
        message = program.receive(time.monotonic() + timeout)
    finally:
        program.kill_tree()
    report = message.get("report")
    if type(report) is not dict:
        raise ProgramFailed("no result (the program process sent no report)")
    return report


def judge_mtpb(request, spec, timeout, result):
    expected = json.loads(request["gold_json"])
    spec["program"] = request["program"]
    spec["expected_type"] = type(expected).__name__
    report = run_for_report(spec, timeout, result)
    if report is None:
        return
    error = text_from_program(report.get("error"))
    result["printed"] = text_from_program(report.get("printed"))
    result["stdout"] = text_from_program(report.get("stdout")) or ""
    result["error"] = error
    if "value" not in report:
        result["error"] = error or text_from_program(report.get("value_error")) or "nothing printed"
        return
    try:
        result["passed"] = bool(check_equivalence(decode_value(report["value"]), expected))
    except Exception as err:  # noqa: BLE001 - what the paper cannot compare fails
        result["error"] = error or describe_error(err)


def judge_script(request, spec, timeout, result):
    """A program run for its output: what it printed, and the exception it raised with its line, if any."""
    spec["program"] = request["program"]
    report = run_for_report(spec, timeout, result)
    if report is None:
        return
    result["stdout"] = text_from_program(report.get("stdout")) or ""
    result["error"] = text_from_program(report.get("error"))
    line = report.get("line")
    result["errorLine"] = line if type(line) is int and line > 0 else None
    result["passed"] = result["error"] is None


def judge_humaneval(request, spec, timeout, result):
    entry_point = request["entry_point"]
    # The problem's prompt (for the helpers its tests call, e.g. HumanEval/32's `poly`) and tests are dataset
    # text, trusted: they run here, with the entry point (also called by name, e.g. HumanEval/33) bound to the
    # program's function. The program process gets the prompt and completion only, never the tests.
    namespace = {"__name__": "__humaneval__"}
    try:
        exec(compile(request["prompt"], "<prompt>", "exec"), namespace)
        candidate = ProgramFunction(None, entry_point)
        namespace[entry_point] = candidate
        exec(compile(request["test"], "<test>", "exec"), namespace)
        check = namespace["check"]
    except Exception as err:  # noqa: BLE001
        result["error"] = f"the problem's prompt or tests do not run: {describe_error(err)}"
        return
    spec["program"] = request["prompt"] + request["completion"] + "\n"
    program = start_program(spec, result)
    if program is None:
        return
    candidate.program = program
    candidate.deadline = time.monotonic() + timeout
    try:
        ready = program.receive(candidate.deadline)
        if ready.get("error") is not None or "ready" not in ready:
            result["error"] = text_from_program(ready.get("error")) or "no result (the program process is not ready)"
            return
        try:
            check(candidate)
            result["passed"] = True
        except ProgramRaised as raised:
            result["error"] = str(raised)
        except Exception as err:  # noqa: BLE001 - a failed assertion of the tests
            result["error"] = describe_error(err)
        try:
            program.send({"finish": True}, time.monotonic() + 1)
            result["stdout"] = text_from_program(program.receive(time.monotonic() + 1).get("stdout")) or ""
        except ProgramFailed:
            pass  # its output is only shown
    finally:
        program.kill_tree()


def set_non_dumpable():
    """Nobody but root may read this process's /proc files (fd/3, mem) or ptrace it, even under the same uid."""
    prctl(PR_SET_DUMPABLE, 0)


def command_run():
    result = {"passed": False, "error": None, "printed": None, "stdout": "", "timedOut": False}
    result_out = os.fdopen(3, "w", encoding="utf-8")
    os.set_inheritable(3, False)
    try:
        set_non_dumpable()
        request = json.loads(sys.stdin.read())
        timeout = float(request.get("timeout_s", 20))
        spec = {"kind": request["kind"], "setup_s": float(request["setup_s"])}
        for limit in ("memory_bytes", "max_processes", "max_file_bytes", "drop_to"):
            spec[limit] = request.get(limit)
        if request["kind"] == "mtpb":
            judge_mtpb(request, spec, timeout, result)
        elif request["kind"] == "script":
            judge_script(request, spec, timeout, result)
        else:
            judge_humaneval(request, spec, timeout, result)
    except ProgramFailed as failed:
        result["passed"] = False
        result["error"] = failed.error
        result["timedOut"] = failed.timed_out
    except Exception as err:  # noqa: BLE001 - the judge's own failure: reported, never a pass
        result["passed"] = False
        result["error"] = f"sandbox setup failed: {describe_error(err)}"
    result_out.write(json.dumps(result))
    result_out.flush()
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
    elif len(argv) == 3 and argv[0] == "program":
        command_program(int(argv[1]), int(argv[2]))
    else:
        sys.stderr.write("usage: exec_harness.py check | problems FILE | samples FILE | run | program CALLS REPORT\n")
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
