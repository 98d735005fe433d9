//! On-target suite: the PL011 transmits and receives (internal loopback).
#![no_std]
#![no_main]

use kernel as _;

#[embedded_test::tests(default_timeout = 30)]
mod tests {
    use drivers::timer;
    use kernel::console::{self, Console};

    #[test]
    fn loopback_returns_what_was_sent() {
        let msg = b"pl011 loopback 0123456789";
        let mut got = [0u8; 25];
        let mut n = 0;
        {
            let _console = Console::lock();
            let uart = console::uart();
            while uart.try_read_byte().is_some() {}
            uart.set_loopback(true);
            // One byte at a time, so the 16-entry receive FIFO never overflows.
            for &b in msg {
                uart.write_byte(b);
                let deadline = timer::counter() + timer::ns_to_ticks(100_000_000);
                while timer::counter() < deadline {
                    if let Some(r) = uart.try_read_byte() {
                        got[n] = r;
                        n += 1;
                        break;
                    }
                }
            }
            uart.set_loopback(false);
        }
        assert_eq!(n, msg.len(), "received {} of {} bytes", n, msg.len());
        assert_eq!(&got, msg);
    }
}
