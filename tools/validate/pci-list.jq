# The model's --pci list (docs/pci.md) from the functions a real boot enumerated (results/CONFIG.KERNEL.json .real):
# bus:dev.fn; a bridge's kind from its PCI Express port type (4 root port, 5/6 switch ports, 7 PCIe-to-PCI,
# 8 PCI-to-PCIe; none: conventional PCI-to-PCI bridge) and its secondary bus; an endpoint's kind (0 endpoint,
# 1 legacy endpoint, 9 root-complex integrated; none: conventional PCI); the multi-function header bit; the vendor
# (ACS quirks); the ACS capability register (the control register starts at QEMU's reset value, 0: what the
# record holds is after Linux); an SHPC capability. Hardware facts only: no driver or group outcome is used.
[ .functions[]
  | (.bdf | sub("^[0-9a-f]{4}:"; "")) as $b
  | ([ $b ]
     + (if .secondaryBus == null then
          [ {"0": "endpoint", "1": "legacy-endpoint", "9": "rciep"}[(.pcieType // "x") | tostring] // "conventional" ]
        else
          [ ({"4": "root-port", "5": "switch-port", "6": "switch-port", "7": "pcie-to-pci", "8": "pci-to-pcie"}[(.pcieType // "x") | tostring] // "pci-bridge"),
            "->", .secondaryBus ]
        end)
     + (if (.headerType | ltrimstr("0x") | explode | .[0]) >= 56 then [ "mf" ] else [] end)
     + [ "vendor", (.vendor | ltrimstr("0x")) ]
     + (if .acs != null then [ "acs", (.acs.cap | ltrimstr("0x")) ] else [] end)
     + (if .shpc == true then [ "shpc" ] else [] end))
  | join(" ") ] | join("; ")
