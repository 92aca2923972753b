"""lgn2rtl: trained logic-gate networks to pipelined, verified FPGA RTL."""
__version__ = "0.1.0"
