//! The `pve_cluster_qdevice` module; its code is in `library/src/modules/cluster_qdevice.rs`.

fn main() {
    library::ansible::run::<library::modules::ClusterQdevice>()
}
