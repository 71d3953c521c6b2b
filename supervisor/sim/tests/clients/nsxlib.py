"""Drives the NSX simulator with OpenStack's vmware-nsxlib (NsxPolicyLib), unchanged.

Usage: nsxlib.py URL USER PASSWORD CA_FILE   (or NSX_URL, NSX_USER, NSX_PASSWORD, NSX_CA)

The library runs under its default configuration (health check on, no manager-API
passthrough, so it assumes the first Policy release's dialect instead of reading the node
version); only the manager, the credentials and the CA are given. Each
step prints what it did; the first failure exits 1 naming the step.
"""

from vmware_nsxlib.v3 import cluster
from vmware_nsxlib.v3 import config
from vmware_nsxlib.v3 import exceptions as nsx_exc
from vmware_nsxlib.v3 import policy
from vmware_nsxlib.v3.policy import lb_defs

from steps import args, check, expect_error, run, step


URL, USER, PASSWORD, CA = args("nsxlib.py", "NSX_URL", "NSX_USER", "NSX_PASSWORD", "NSX_CA")


def main():
    step("connect (health check)")
    nsx_config = config.NsxLibConfig(
        nsx_api_managers=[URL], username=USER, password=PASSWORD,
        insecure=False, ca_file=CA)
    lib = policy.NsxPolicyLib(nsx_config)
    health = lib.cluster.health
    print(f"   cluster health {health}")
    check(health == cluster.ClusterHealth.GREEN, f"cluster health {health}")
    # Without passthrough the library reads no version from the manager: it assumes
    # the first Policy release and speaks that dialect (GET .../search, full PATCH).
    print(f"   NSX version (as the library assumes it) {lib.get_version()}")

    tags = [{"scope": "os-project", "tag": "p1"}, {"scope": "os-owner", "tag": "nsxlib-test"}]

    step("Tier-1")
    lib.tier1.create_or_overwrite("t1", tier1_id="t1-nsxlib", tier0="t0", tags=tags)
    lib.tier1.set_edge_cluster_path(
        "t1-nsxlib", "/infra/sites/default/enforcement-points/default/edge-clusters/ec1")
    t1 = lib.tier1.get("t1-nsxlib")
    check(t1["display_name"] == "t1", f"tier-1 {t1}")

    step("segment with a subnet")
    subnet = lib.segment.build_subnet(gateway_address="10.10.0.1/24")
    lib.segment.create_or_overwrite("seg", segment_id="seg-nsxlib", tier1_id="t1-nsxlib",
                                    subnets=[subnet], tags=tags)
    seg = lib.segment.get("seg-nsxlib")
    check(seg["subnets"][0]["gateway_address"] == "10.10.0.1/24", f"segment {seg}")
    check(seg["connectivity_path"] == "/infra/tier-1s/t1-nsxlib", f"segment {seg}")

    step("segment port")
    binding = lib.segment_port.build_address_binding("10.10.0.5", "00:50:56:00:00:aa")
    lib.segment_port.create_or_overwrite(
        "port", "seg-nsxlib", port_id="port-nsxlib", address_bindings=[binding],
        vif_id="5f6e7d8c-0000-4000-8000-000000000001", attachment_type="INDEPENDENT", tags=tags)
    port = lib.segment_port.get("seg-nsxlib", "port-nsxlib")
    check(port["address_bindings"][0]["ip_address"] == "10.10.0.5", f"port {port}")

    step("IP pool with a subnet and an allocation")
    lib.ip_pool.create_or_overwrite("pool", ip_pool_id="pool-nsxlib", tags=tags)
    lib.ip_pool.create_or_update_static_subnet(
        "pool-nsxlib", "192.168.50.0/24",
        [{"start": "192.168.50.10", "end": "192.168.50.20"}],
        ip_subnet_id="sub-nsxlib", gateway_ip="192.168.50.1")
    lib.ip_pool.allocate_ip("pool-nsxlib", ip_allocation_id="alloc-nsxlib")
    allocation = lib.ip_pool.get_allocation("pool-nsxlib", "alloc-nsxlib")
    print(f"   allocation {allocation.get('allocation_ip')}")
    allocated = lib.ip_pool.get_realized_allocated_ip("pool-nsxlib", "alloc-nsxlib")
    check(allocated.startswith("192.168.50."), f"allocated {allocated}")
    print(f"   realized allocation {allocated}")

    step("LB service on the Tier-1")
    lib.load_balancer.lb_service.create_or_overwrite(
        "lbs", lb_service_id="lbs-nsxlib", size="SMALL",
        connectivity_path="/infra/tier-1s/t1-nsxlib", tags=tags)

    step("LB pool with members")
    members = [lb_defs.LBPoolMemberDef("10.10.0.5", port="6443"),
               lb_defs.LBPoolMemberDef("10.10.0.6", port="6443", name="second")]
    lib.load_balancer.lb_pool.create_or_overwrite(
        "pool", lb_pool_id="lbpool-nsxlib", members=members, tags=tags)
    pool = lib.load_balancer.lb_pool.get("lbpool-nsxlib")
    check(len(pool["members"]) == 2, f"pool {pool}")

    step("virtual server")
    lib.load_balancer.virtual_server.create_or_overwrite(
        "vs", virtual_server_id="vs-nsxlib", ip_address="192.168.50.10", ports=["6443"],
        lb_service_id="lbs-nsxlib", pool_id="lbpool-nsxlib",
        application_profile_id="default-tcp-lb-app-profile", tags=tags)
    vs = lib.load_balancer.virtual_server.get("vs-nsxlib")
    check(vs["pool_path"] == "/infra/lb-pools/lbpool-nsxlib", f"virtual server {vs}")

    step("tags round-tripped")
    for name, obj in [("tier-1", lib.tier1.get("t1-nsxlib")),
                      ("segment", lib.segment.get("seg-nsxlib")),
                      ("virtual server", lib.load_balancer.virtual_server.get("vs-nsxlib"))]:
        got = sorted((t["scope"], t["tag"]) for t in obj.get("tags", []))
        check(got == sorted((t["scope"], t["tag"]) for t in tags), f"{name} tags {got}")
    lib.segment.update("seg-nsxlib", tags=tags + [{"scope": "os-extra", "tag": "x"}])
    check(len(lib.segment.get("seg-nsxlib")["tags"]) == 3, "updated tags")

    step("paging")
    for i in range(5):
        lib.segment.create_or_overwrite(f"page-{i}", segment_id=f"seg-page-{i}", tags=tags)
    segments = lib.segment.list()
    ids = {s["id"] for s in segments}
    check({f"seg-page-{i}" for i in range(5)} <= ids, f"listed segments {ids}")
    found = lib.search_all_by_tags([{"scope": "os-owner", "tag": "nsxlib-test"}], "Segment")
    check(len(found) == 6, f"search found {len(found)}: {[s['id'] for s in found]}")
    page = lib.search_by_tags([{"scope": "os-owner", "tag": "nsxlib-test"}], "Segment",
                              page_size=2)
    check(len(page["results"]) == 2 and page["result_count"] == 6, f"first page {page}")
    everything = []
    cursor = 0
    while True:
        page = lib.search_by_tags([{"scope": "os-owner", "tag": "nsxlib-test"}], "Segment",
                                  cursor=cursor, page_size=2)
        everything.extend(r["id"] for r in page["results"])
        cursor = int(page["cursor"])
        if cursor >= int(page["result_count"]):
            break
    check(len(everything) == 6 and len(set(everything)) == 6, f"paged search {everything}")
    for i in range(5):
        lib.segment.delete(f"seg-page-{i}")

    step("a delete refused for a dependency")
    expect_error(nsx_exc.ResourceInUse, lib.load_balancer.lb_pool.delete, "lbpool-nsxlib")
    expect_error(nsx_exc.ResourceInUse, lib.ip_pool.delete, "pool-nsxlib")
    # (A segment with ports answers 503040, which nsxlib retries for minutes waiting for
    # VMs to leave: right for the library, too slow for this test.)

    step("ResourceNotFound for a missing object")
    expect_error(nsx_exc.ResourceNotFound, lib.segment.get, "no-such-segment")
    expect_error(nsx_exc.ResourceNotFound, lib.tier1.get, "T1-NSXLIB")

    step("everything deleted again")
    lib.load_balancer.virtual_server.delete("vs-nsxlib")
    lib.load_balancer.lb_pool.delete("lbpool-nsxlib")
    lib.load_balancer.lb_service.delete("lbs-nsxlib")
    lib.ip_pool.release_ip("pool-nsxlib", "alloc-nsxlib")
    lib.ip_pool.release_static_subnet("pool-nsxlib", "sub-nsxlib")
    lib.ip_pool.delete("pool-nsxlib")
    lib.segment_port.delete("seg-nsxlib", "port-nsxlib")
    lib.segment.delete("seg-nsxlib")
    lib.tier1.delete_locale_service("t1-nsxlib")
    lib.tier1.delete("t1-nsxlib")
    for name, call, args in [("segment", lib.segment.get, ("seg-nsxlib",)),
                             ("tier-1", lib.tier1.get, ("t1-nsxlib",)),
                             ("ip pool", lib.ip_pool.get, ("pool-nsxlib",)),
                             ("virtual server", lib.load_balancer.virtual_server.get,
                              ("vs-nsxlib",))]:
        expect_error(nsx_exc.ResourceNotFound, call, *args)


if __name__ == "__main__":
    run("nsxlib", main)
