//! Host scenario tests (cfg(test)).
