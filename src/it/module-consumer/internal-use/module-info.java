/** An application that tries to use an internal package of io.fusedopt; it must not compile. */
module example.internal {
    requires io.fusedopt;
}
