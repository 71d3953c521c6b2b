//! The chain's CRDs (`crds/` at the repository root) served as kubectl sees them: every file
//! applies, one object of each kind is accepted, printer columns, short names, categories,
//! the second TKC version and the raw kubeadm configuration come back as the originals have them.

use std::time::Duration;

use anyhow::{Context as _, ensure};

use crate::support::{TestServer, eventually};

const CRDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../crds");

/// One valid object of each chain kind, as the chain's plugins would write them.
const OBJECTS: &str = r#"
apiVersion: run.tanzu.vmware.com/v1alpha2
kind: TanzuKubernetesRelease
metadata:
  name: v1.21.6---vmware.1-tkg.1.b3d708a
spec:
  version: v1.21.6+vmware.1-tkg.1.b3d708a
  kubernetesVersion: v1.21.6+vmware.1
  repository: vmware.io
  images:
    - name: coredns
      repository: vmware.io
      tag: v1.8.0_vmware.5
  nodeImageRef:
    apiVersion: vmoperator.vmware.com/v1alpha1
    kind: VirtualMachineImage
    name: ob-18900476-photon-3-k8s-v1.21.6---vmware.1-tkg.1.b3d708a
---
apiVersion: run.tanzu.vmware.com/v1alpha2
kind: TanzuKubernetesCluster
metadata:
  name: tkc1
  namespace: ns1
spec:
  topology:
    controlPlane:
      replicas: 3
      vmClass: best-effort-small
      storageClass: vsan-default
      tkr:
        reference:
          name: v1.21.6---vmware.1-tkg.1.b3d708a
    nodePools:
      - name: workers
        replicas: 2
        vmClass: best-effort-medium
        storageClass: vsan-default
        labels: {pool: workers}
        taints: [{key: dedicated, value: ml, effect: NoSchedule}]
        volumes:
          - name: containerd
            mountPath: /var/lib/containerd
            capacity: {storage: 50Gi}
  settings:
    network:
      cni: {name: antrea}
      pods: {cidrBlocks: [192.168.0.0/16]}
      services: {cidrBlocks: [10.96.0.0/12]}
      serviceDomain: cluster.local
---
apiVersion: cluster.x-k8s.io/v1beta1
kind: Cluster
metadata:
  name: tkc1
  namespace: ns1
spec:
  clusterNetwork:
    pods: {cidrBlocks: [192.168.0.0/16]}
    services: {cidrBlocks: [10.96.0.0/12]}
    serviceDomain: cluster.local
  controlPlaneRef: {apiVersion: controlplane.cluster.x-k8s.io/v1beta1, kind: KubeadmControlPlane, name: tkc1-control-plane, namespace: ns1}
  infrastructureRef: {apiVersion: vmware.infrastructure.cluster.x-k8s.io/v1beta1, kind: VSphereCluster, name: tkc1, namespace: ns1}
---
apiVersion: vmware.infrastructure.cluster.x-k8s.io/v1beta1
kind: VSphereCluster
metadata:
  name: tkc1
  namespace: ns1
spec:
  controlPlaneEndpoint: {host: "", port: 0}
---
apiVersion: vmware.infrastructure.cluster.x-k8s.io/v1beta1
kind: VSphereMachineTemplate
metadata:
  name: tkc1-control-plane
  namespace: ns1
spec:
  template:
    spec:
      imageName: ob-18900476-photon-3-k8s-v1.21.6---vmware.1-tkg.1.b3d708a
      className: best-effort-small
      storageClass: vsan-default
---
apiVersion: controlplane.cluster.x-k8s.io/v1beta1
kind: KubeadmControlPlane
metadata:
  name: tkc1-control-plane
  namespace: ns1
  labels: {cluster.x-k8s.io/cluster-name: tkc1}
spec:
  replicas: 3
  version: v1.21.6+vmware.1
  machineTemplate:
    infrastructureRef: {apiVersion: vmware.infrastructure.cluster.x-k8s.io/v1beta1, kind: VSphereMachineTemplate, name: tkc1-control-plane}
  kubeadmConfigSpec:
    files:
      - path: /etc/kubernetes/extra.conf
        owner: root:root
        permissions: "0640"
        content: hello
    preKubeadmCommands: ['hostnamectl set-hostname "{{ ds.meta_data.hostname }}"']
    clusterConfiguration:
      imageRepository: vmware.io
      apiServer: {extraArgs: {cloud-provider: external}}
    initConfiguration:
      nodeRegistration: {criSocket: /run/containerd/containerd.sock}
---
apiVersion: bootstrap.cluster.x-k8s.io/v1beta1
kind: KubeadmConfigTemplate
metadata:
  name: tkc1-workers
  namespace: ns1
spec:
  template:
    spec:
      joinConfiguration:
        nodeRegistration: {kubeletExtraArgs: {cloud-provider: external}}
---
apiVersion: bootstrap.cluster.x-k8s.io/v1beta1
kind: KubeadmConfig
metadata:
  name: tkc1-workers-abcde
  namespace: ns1
  labels: {cluster.x-k8s.io/cluster-name: tkc1}
spec:
  joinConfiguration:
    nodeRegistration: {kubeletExtraArgs: {cloud-provider: external}}
---
apiVersion: cluster.x-k8s.io/v1beta1
kind: MachineDeployment
metadata:
  name: tkc1-workers
  namespace: ns1
spec:
  clusterName: tkc1
  replicas: 2
  selector:
    matchLabels: {cluster.x-k8s.io/deployment-name: tkc1-workers}
  template:
    metadata:
      labels: {cluster.x-k8s.io/deployment-name: tkc1-workers}
    spec:
      clusterName: tkc1
      version: v1.21.6+vmware.1
      bootstrap:
        configRef: {apiVersion: bootstrap.cluster.x-k8s.io/v1beta1, kind: KubeadmConfigTemplate, name: tkc1-workers}
      infrastructureRef: {apiVersion: vmware.infrastructure.cluster.x-k8s.io/v1beta1, kind: VSphereMachineTemplate, name: tkc1-control-plane}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: "0%"}
---
apiVersion: cluster.x-k8s.io/v1beta1
kind: MachineSet
metadata:
  name: tkc1-workers-7d4f
  namespace: ns1
spec:
  clusterName: tkc1
  replicas: 2
  selector:
    matchLabels: {cluster.x-k8s.io/set-name: tkc1-workers-7d4f}
  template:
    metadata:
      labels: {cluster.x-k8s.io/set-name: tkc1-workers-7d4f}
    spec:
      clusterName: tkc1
      bootstrap: {dataSecretName: tkc1-workers-abcde}
      infrastructureRef: {apiVersion: vmware.infrastructure.cluster.x-k8s.io/v1beta1, kind: VSphereMachine, name: tkc1-workers-abcde}
---
apiVersion: cluster.x-k8s.io/v1beta1
kind: Machine
metadata:
  name: tkc1-workers-abcde
  namespace: ns1
spec:
  clusterName: tkc1
  version: v1.21.6+vmware.1
  bootstrap:
    configRef: {apiVersion: bootstrap.cluster.x-k8s.io/v1beta1, kind: KubeadmConfig, name: tkc1-workers-abcde}
  infrastructureRef: {apiVersion: vmware.infrastructure.cluster.x-k8s.io/v1beta1, kind: VSphereMachine, name: tkc1-workers-abcde}
  providerID: vsphere://4207a1b2-0000-1111-2222-333344445555
---
apiVersion: vmware.infrastructure.cluster.x-k8s.io/v1beta1
kind: VSphereMachine
metadata:
  name: tkc1-workers-abcde
  namespace: ns1
spec:
  imageName: ob-18900476-photon-3-k8s-v1.21.6---vmware.1-tkg.1.b3d708a
  className: best-effort-medium
  storageClass: vsan-default
  providerID: vsphere://4207a1b2-0000-1111-2222-333344445555
  volumes:
    - name: containerd
      capacity: {storage: 50Gi}
---
apiVersion: vmoperator.vmware.com/v1alpha1
kind: VirtualMachineClass
metadata:
  name: best-effort-small
  namespace: ns1
spec:
  hardware: {cpus: 2, memory: 4Gi}
  configSpec: {_typeName: VirtualMachineConfigSpec, numCPUs: 2}
---
apiVersion: vmoperator.vmware.com/v1alpha1
kind: VirtualMachineImage
metadata:
  name: ob-18900476-photon-3-k8s-v1.21.6---vmware.1-tkg.1.b3d708a
  namespace: ns1
spec:
  type: ovf
  imageSourceType: Content Library
  productInfo: {product: tkg, vendor: VMware Inc., version: v1.21.6+vmware.1, fullVersion: v1.21.6+vmware.1-tkg.1.b3d708a}
  osInfo: {type: vmwarePhoton64Guest, version: "3.0"}
---
apiVersion: vmoperator.vmware.com/v1alpha1
kind: VirtualMachineSetResourcePolicy
metadata:
  name: tkc1
  namespace: ns1
spec:
  resourcepool: {name: tkc1}
  folder: {name: tkc1}
  clustermodules: [{groupname: control-plane-group}, {groupname: tkc1-workers-0}]
---
apiVersion: vmoperator.vmware.com/v1alpha1
kind: VirtualMachine
metadata:
  name: tkc1-workers-abcde
  namespace: ns1
  labels: {capv.vmware.com/cluster.name: tkc1, capv.vmware.com/cluster.role: node}
spec:
  imageName: ob-18900476-photon-3-k8s-v1.21.6---vmware.1-tkg.1.b3d708a
  className: best-effort-medium
  storageClass: vsan-default
  powerState: poweredOn
  resourcePolicyName: tkc1
  vmMetadata: {configMapName: tkc1-workers-abcde-cloud-init, transport: ExtraConfig}
  networkInterfaces: [{networkType: nsx-t, networkName: tkc1-vnet}]
  readinessProbe: {tcpSocket: {port: 6443}}
---
apiVersion: vmoperator.vmware.com/v1alpha1
kind: VirtualMachineService
metadata:
  name: tkc1-control-plane-service
  namespace: ns1
  annotations: {ncp.vmware.com/virtual-network-name: tkc1-vnet}
spec:
  type: LoadBalancer
  ports: [{name: apiserver, protocol: TCP, port: 6443, targetPort: 6443}]
  selector: {capv.vmware.com/cluster.name: tkc1, capv.vmware.com/cluster.role: controlplane}
---
apiVersion: vmware.com/v1alpha1
kind: VirtualNetwork
metadata:
  name: tkc1-vnet
  namespace: ns1
spec:
  whitelist_source_ranges: 10.0.0.5/32
---
apiVersion: vmware.com/v1alpha1
kind: VirtualNetworkInterface
metadata:
  name: tkc1-vnet-tkc1-workers-abcde-lsp
  namespace: ns1
  labels: {vmoperator.vmware.com/vm-name: tkc1-workers-abcde, vmoperator.vmware.com/vm-interface-name: eth0}
spec:
  virtualNetwork: tkc1-vnet
"#;

/// Splits a kubectl table line into cells (columns are separated by at least two spaces).
fn cells(line: &str) -> Vec<&str> {
    line.split("  ").map(str::trim).filter(|c| !c.is_empty()).collect()
}

#[tokio::test]
async fn chain_crds_apply_and_print_like_the_originals() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let k = server.kubectl();

    let applied = k.run(&["apply", "-k", CRDS]).await?.ok()?;
    let created = applied.lines().filter(|l| l.ends_with(" created")).count();
    ensure!(created == 19, "expected 19 CRDs created:\n{applied}");
    k.run(&["wait", "--for=condition=established", "crd", "--all", "--timeout=20s"]).await?.ok()?;

    k.run(&["create", "namespace", "ns1"]).await?.ok()?;
    // kubectl may still hold discovery from before the CRDs: retry until it sees them all.
    let objects = eventually("every chain object accepted", Duration::from_secs(20), || async {
        k.run_with_input(&["apply", "--server-side", "--field-manager=chain-test", "-f", "-"], OBJECTS)
            .await?
            .ok()
    })
    .await?;
    ensure!(objects.lines().filter(|l| l.ends_with("serverside-applied")).count() == 19, "{objects}");

    k.run(&[
        "patch", "tkc", "tkc1", "-n", "ns1", "--subresource=status", "--type", "merge", "-p",
        r#"{"status":{"totalWorkerReplicas":2,"conditions":[
            {"type":"Ready","status":"True","lastTransitionTime":"2026-01-01T00:00:00Z"},
            {"type":"TanzuKubernetesReleaseCompatible","status":"True","lastTransitionTime":"2026-01-01T00:00:00Z"},
            {"type":"UpdatesAvailable","status":"True","message":"[v1.22.9]","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}"#,
    ])
    .await?
    .ok()?;
    let table = k.run(&["get", "tkc", "-n", "ns1"]).await?.ok()?;
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        cells(lines[0]),
        [
            "NAME",
            "CONTROL PLANE",
            "WORKER",
            "TKR NAME",
            "AGE",
            "READY",
            "TKR COMPATIBLE",
            "UPDATES AVAILABLE"
        ],
        "{table}"
    );
    let row = cells(lines[1]);
    assert_eq!(&row[..4], ["tkc1", "3", "2", "v1.21.6---vmware.1-tkg.1.b3d708a"], "{table}");
    assert_eq!(&row[5..], ["True", "True", "[v1.22.9]"], "{table}");

    let short = k.run(&["get", "vm,vmservice,vnet,vnetif", "-n", "ns1", "-o", "name"]).await?.ok()?;
    assert_eq!(
        short.lines().collect::<Vec<_>>(),
        [
            "virtualmachine.vmoperator.vmware.com/tkc1-workers-abcde",
            "virtualmachineservice.vmoperator.vmware.com/tkc1-control-plane-service",
            "virtualnetwork.vmware.com/tkc1-vnet",
            "virtualnetworkinterface.vmware.com/tkc1-vnet-tkc1-workers-abcde-lsp",
        ]
    );
    let tkr = k.run(&["get", "tkr"]).await?.ok()?;
    assert_eq!(
        cells(tkr.lines().next().unwrap_or("")),
        ["NAME", "VERSION", "READY", "COMPATIBLE", "CREATED", "UPDATES AVAILABLE"]
    );

    // Category `cluster-api` covers the CAPI and CAPV kinds, and nothing else.
    let capi = k.run(&["get", "cluster-api", "-n", "ns1", "-o", "name"]).await?.ok()?;
    let mut kinds: Vec<&str> = capi.lines().filter_map(|l| l.split('/').next()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(
        kinds,
        [
            "cluster.cluster.x-k8s.io",
            "kubeadmconfig.bootstrap.cluster.x-k8s.io",
            "kubeadmconfigtemplate.bootstrap.cluster.x-k8s.io",
            "kubeadmcontrolplane.controlplane.cluster.x-k8s.io",
            "machine.cluster.x-k8s.io",
            "machinedeployment.cluster.x-k8s.io",
            "machineset.cluster.x-k8s.io",
            "vspherecluster.vmware.infrastructure.cluster.x-k8s.io",
            "vspheremachine.vmware.infrastructure.cluster.x-k8s.io",
            "vspheremachinetemplate.vmware.infrastructure.cluster.x-k8s.io",
        ]
    );

    // KubeadmControlPlane's Cluster column reads a label with escaped dots.
    let kcp = k.run(&["get", "kcp", "-n", "ns1"]).await?.ok()?;
    let kcp_lines: Vec<&str> = kcp.lines().collect();
    assert_eq!(cells(kcp_lines[0])[..3], ["NAME", "CLUSTER", "INITIALIZED"], "{kcp}");
    assert_eq!(cells(kcp_lines[1])[..2], ["tkc1-control-plane", "tkc1"], "{kcp}");

    // v1alpha3 serves the same objects; the raw kubeadm configuration survives pruning.
    let v1alpha3 = k
        .run(&["get", "tanzukubernetesclusters.v1alpha3.run.tanzu.vmware.com", "-n", "ns1", "-o", "json"])
        .await?
        .ok()?;
    let v1alpha3: serde_json::Value = serde_json::from_str(&v1alpha3)?;
    assert_eq!(v1alpha3["items"][0]["apiVersion"], "run.tanzu.vmware.com/v1alpha3");
    assert_eq!(
        v1alpha3["items"][0]["spec"]["topology"]["nodePools"][0]["volumes"][0]["capacity"]["storage"],
        "50Gi"
    );
    let kcp: serde_json::Value = serde_json::from_str(
        &k.run(&["get", "kcp", "tkc1-control-plane", "-n", "ns1", "-o", "json"]).await?.ok()?,
    )
    .context("kcp json")?;
    assert_eq!(
        kcp["spec"]["kubeadmConfigSpec"]["clusterConfiguration"]["apiServer"]["extraArgs"]["cloud-provider"],
        "external"
    );

    // Odd JSON names are the real ones: a camelCase spelling is an unknown field.
    let wrong = k
        .run_with_input(
            &["apply", "-f", "-"],
            "apiVersion: vmware.com/v1alpha1\nkind: VirtualNetwork\nmetadata: {name: x, namespace: ns1}\nspec: {whitelistSourceRanges: 10.0.0.1/32}\n",
        )
        .await?;
    assert!(wrong.stderr.contains("unknown field \"spec.whitelistSourceRanges\""), "{wrong:?}");
    Ok(())
}
