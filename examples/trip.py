"""A trip booked as a saga: every booking carries the rollback that undoes it.

If the card is declined, the instance fails, and before it settles as
``errored`` the bookings are cancelled in reverse order (hotel, then flight),
each cancellation journaled and retried like a step. ``pyflow instances
terminate trip ID --rollback`` cancels them the same way.

Try it while `make run` is going::

    pyflow trigger trip '{"to": "Lisbon", "card": "declined"}' --wait
    pyflow instances describe trip latest
"""

from pyflow_actors import NonRetryableError, WorkflowEntrypoint

PATIENT = {"retries": {"limit": 3, "delay": "1 second"}, "timeout": "30 seconds"}


def cancel_flight(output, error):
    """The flight's rollback: ``output`` is what the booking returned."""
    print(f"flight {output['flight']} cancelled ({type(error).__name__}: {error})")


class Trip(WorkflowEntrypoint):
    async def run(self, event, step):
        trip = event["payload"] or {}
        flight = await step.do(
            "book flight",
            lambda: {"flight": "TP-1234", "to": trip.get("to", "Lisbon")},
            rollback=cancel_flight,
            rollback_config=PATIENT,
        )

        @step.do("book hotel")
        async def book_hotel():
            return {"hotel": "Casa Azul", "nights": trip.get("nights", 3)}

        @book_hotel.rollback(config=PATIENT)
        async def cancel_hotel(ctx, output):
            print(f"{ctx['step']['name']}: {output['hotel']} cancelled")

        hotel = await book_hotel()

        @step.do("charge card", config={"retries": {"limit": 0}})
        def charge():
            if trip.get("card") == "declined":
                raise NonRetryableError("card declined", name="PaymentDeclined")
            return {"charged": 420}

        paid = await charge()
        return {**flight, **hotel, **paid}
