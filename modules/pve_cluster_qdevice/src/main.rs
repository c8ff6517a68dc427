//! The `pve_cluster_qdevice` module; its code is in `library/src/modules/cluster_qdevice.rs`.

fn main() {
    pve_cluster::ansible::run::<pve_cluster::modules::ClusterQdevice>()
}
