"""Drives the vCenter simulator with VMware's vSphere Automation SDK for Python, unchanged.

Usage: vcenter_sdk.py URL USER PASSWORD CA_FILE
       (or VCENTER_URL, VCENTER_USER, VCENTER_PASSWORD, VCENTER_CA)

The SDK speaks vAPI JSON-RPC on POST /api (create_vsphere_client). Each step prints what
it did; the first failure exits 1 naming the step.
"""

import time
from urllib.parse import urlparse

import requests
from com.vmware.vapi.std.errors_client import NotAllowedInCurrentState, NotFound, \
    ServiceUnavailable, Unauthenticated
from com.vmware.vcenter.vm.hardware_client import Ethernet
from com.vmware.vcenter_client import VM, Folder, Network
from com.vmware.vcenter.vm_client import Power
from vmware.vapi.vsphere.client import create_vsphere_client

import steps
from steps import args, check, run, step


URL, USER, PASSWORD, CA = args("vcenter_sdk.py", "VCENTER_URL", "VCENTER_USER", "VCENTER_PASSWORD",
                                "VCENTER_CA")


def expect_error(cls, call, *args):
    return steps.expect_error(cls, call, *args, describe=lambda e: e.messages[0].default_message)


def eventually(what, probe, deadline=10.0):
    """Calls probe until it returns a truthy value; fails with the last state seen."""
    start, last = time.monotonic(), None
    while time.monotonic() - start < deadline:
        try:
            last = probe()
            if last:
                return last
        except ServiceUnavailable as e:
            last = f"ServiceUnavailable: {e.messages[0].default_message}"
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached within {deadline}s; last: {last}")


def main():
    step("session (create_vsphere_client, user and password)")
    session = requests.Session()
    session.verify = CA
    server = urlparse(URL).netloc
    client = create_vsphere_client(server=server, username=USER, password=PASSWORD,
                                   session=session)
    info = client.session_svc.get()
    check(info.user == USER, f"session user {info.user}")
    print(f"   session of {info.user}, created {info.created_time}")

    step("inventory lists")
    datacenters = client.vcenter.Datacenter.list()
    check(datacenters, "no datacenter")
    folders = client.vcenter.Folder.list(Folder.FilterSpec(type=Folder.Type.VIRTUAL_MACHINE))
    check(len(folders) == 1, f"VM folders {folders}")
    pools = client.vcenter.ResourcePool.list()
    hosts = client.vcenter.Host.list()
    clusters = client.vcenter.Cluster.list()
    networks = client.vcenter.Network.list(
        Network.FilterSpec(types={Network.Type.STANDARD_PORTGROUP}))
    check(pools and hosts and clusters and networks, "an empty inventory list")
    print(f"   datacenter {datacenters[0].name}, folder {folders[0].folder}, "
          f"pool {pools[0].resource_pool}, host {hosts[0].name}, cluster {clusters[0].name}, "
          f"network {networks[0].name} ({networks[0].network})")

    step("VM created on a listed network")
    nic = Ethernet.CreateSpec(
        type=Ethernet.EmulationType.VMXNET3, start_connected=True,
        backing=Ethernet.BackingSpec(type=Ethernet.BackingType.STANDARD_PORTGROUP,
                                     network=networks[0].network))
    spec = VM.CreateSpec(
        name="sdk-vm", guest_os="UBUNTU_64",
        placement=VM.PlacementSpec(folder=folders[0].folder,
                                   resource_pool=pools[0].resource_pool),
        nics=[nic])
    vm = client.vcenter.VM.create(spec)
    print(f"   created {vm}")
    listed = client.vcenter.VM.list(VM.FilterSpec(names={"sdk-vm"}))
    check([s.vm for s in listed] == [vm], f"list by name {listed}")
    check(client.vcenter.VM.list(VM.FilterSpec(names={"no-such-vm"})) == [], "filtered list")
    vm_info = client.vcenter.VM.get(vm)
    check(vm_info.name == "sdk-vm" and len(vm_info.nics) == 1, f"VM info {vm_info}")
    nic_key = list(vm_info.nics)[0]
    check(vm_info.nics[nic_key].backing.network == networks[0].network, "NIC backing")
    nics = client.vcenter.vm.hardware.Ethernet.list(vm)
    check([n.nic for n in nics] == [nic_key], f"ethernet list {nics}")
    mac = client.vcenter.vm.hardware.Ethernet.get(vm, nic_key).mac_address
    print(f"   NIC {nic_key} with MAC {mac}")

    step("powered on")
    client.vcenter.vm.Power.start(vm)
    check(client.vcenter.vm.Power.get(vm).state == Power.State.POWERED_ON, "power state")
    check(client.vcenter.VM.list(VM.FilterSpec(power_states={Power.State.POWERED_ON}))[0].vm
          == vm, "list by power state")

    step("guest identity and IP once reported")
    identity = eventually("guest IP", lambda: (
        lambda i: i if i.ip_address else None)(client.vcenter.vm.guest.Identity.get(vm)))
    print(f"   guest {identity.host_name} ({identity.family}) at {identity.ip_address}")
    interfaces = client.vcenter.vm.guest.networking.Interfaces.list(vm)
    check(interfaces[0].mac_address == mac, f"interface MAC {interfaces[0].mac_address}")
    check(interfaces[0].ip.ip_addresses[0].ip_address == identity.ip_address,
          f"interface IP {interfaces[0].ip}")
    networking = client.vcenter.vm.guest.Networking.get(vm)
    check(networking.dns_values.host_name == identity.host_name, f"networking {networking}")

    step("powered-on delete refused with the SDK's typed error")
    expect_error(NotAllowedInCurrentState, client.vcenter.VM.delete, vm)

    step("power off, delete")
    client.vcenter.vm.Power.stop(vm)
    check(client.vcenter.vm.Power.get(vm).state == Power.State.POWERED_OFF, "powered off")
    client.vcenter.VM.delete(vm)
    expect_error(NotFound, client.vcenter.VM.get, vm)

    step("logout")
    client.session_svc.delete()
    expect_error(Unauthenticated, client.vcenter.VM.list)


if __name__ == "__main__":
    run("vcenter_sdk", main)
