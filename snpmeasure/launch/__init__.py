"""Launch plans: what a hypervisor loads and in which order, per source (OVMF with a VMM profile,
COCONUT-SVSM, IGVM), with the CPU models, VMM profiles and VMSA contents they need."""
