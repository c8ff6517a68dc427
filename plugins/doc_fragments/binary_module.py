# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every module of pve_tools.cluster shares: how it runs on the target."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
attributes:
  action:
    support: full
    description:
      - An action plugin of the same name runs the module. It picks the static binary built for the target's
        architecture (x86_64 or aarch64), keeps it in a cache on the target (C(~/.cache/pve_tools.cluster) of the
        user the module runs as, one file per binary, named by its SHA-256 and checked before every run), and sends
        the module's arguments on standard input. A task whose binary is cached costs one command on the target.
      - Where the cache cannot be used (no writable or executable cache directory, a connection or become method
        that cannot pass standard input, or C(pve_tools_module_cache=false) for the host), the binary is copied for
        the task as Ansible copies any binary module; C(-v) says so once per host.
  async:
    support: none
    description: A task with C(async) fails with a message; the modules that wait have a C(timeout) of their own.
  become:
    support: full
    description: With become, the module and its cache belong to the become user (root's own cache for root).
  platform:
    support: full
    platforms: posix
    description:
      - Proxmox VE nodes (Debian 11, 12, 13) on x86_64 or aarch64. The module is a static binary and needs no
        Python on the node.
notes:
  - The cache directory can be moved with the host variable C(pve_tools_module_cache_dir) (absolute, or starting
    with C(~/)), and turned off with C(pve_tools_module_cache=false).
"""
