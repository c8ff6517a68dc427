# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the pve_cluster_qdevice binary on the target (see plugins/plugin_utils/binary_module.py)."""

from ansible_collections.pve_tools.cluster.plugins.plugin_utils.binary_module import BinaryModuleAction


class ActionModule(BinaryModuleAction):
    MODULE = "pve_cluster_qdevice"
