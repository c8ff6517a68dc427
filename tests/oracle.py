"""Runs Python's AnsibleModule on a spec and arguments and prints its result.

Used by test_validation_oracle.py as the reference our Rust validator must
match: argv[1] is a JSON object {"spec": {...}, "args": {...}, "rules": {...}}.
"""

import contextlib
import io
import json
import sys

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


def main() -> None:
    case = json.loads(sys.argv[1])
    buf = io.StringIO()
    args = {**case["args"], "_ansible_module_name": case["name"]}
    with patch_module_args(args), contextlib.redirect_stdout(buf):
        try:
            module = basic.AnsibleModule(argument_spec=case["spec"], supports_check_mode=True, **case.get("rules", {}))
            module.exit_json(changed=False, params=module.params)
        except SystemExit:
            pass
    print(buf.getvalue())


if __name__ == "__main__":
    main()
