"""The truth for unittest: its own TestResult, written as JSON (unittest has no machine format)."""
import json
import sys
import traceback
import unittest

failfast = "-f" in sys.argv
suite = unittest.defaultTestLoader.discover(".", pattern="test_*.py")
result = unittest.TestResult()
result.failfast = failfast
suite.run(result)


def item(test, err_text):
    frames = [l for l in err_text.splitlines() if l.strip().startswith('File "')]
    file, line = None, None
    for frame in frames:
        part = frame.strip().split('"')
        if part[1].endswith("test_inventory.py"):
            file, line = part[1], int(part[2].split("line ")[1].split(",")[0])
    last = [l for l in err_text.splitlines() if l.strip()][-1]
    return {"name": f"{test._testMethodName} ({test.__class__.__module__}.{test.__class__.__qualname__}.{test._testMethodName})",
            "file": file, "line": line, "message": last}


failed = [item(t, e) for t, e in result.failures]
errors = [item(t, e) for t, e in result.errors]
print(json.dumps({
    "ran": result.testsRun,
    "failures": failed,
    "errors": errors,
    "skipped": len(result.skipped),
}))
