/** An application on the module path that uses fusedopt as the module io.fusedopt. */
module example.modular {
    requires io.fusedopt;
}
