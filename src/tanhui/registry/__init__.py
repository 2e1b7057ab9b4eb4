"""The registry: issuance, serial blocks and every act that moves or ends them."""
